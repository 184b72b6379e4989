"""Failure detection, timed on real processes: how long the cluster takes to notice a fault.

For each broker (Redis, NATS), every round starts a broker and three scale-out sample
nodes (``python -m samples.scale_out``, default beat: 1 s, 3 misses) and measures, from
the parent process's clock:

* ``forget``: a node is killed with SIGKILL at a random moment between two of its beats;
  the time until both survivors have logged that it went silent (the crashed node is
  forgotten: no longer counted nor listed);
* ``count``: how long ``online`` (``server.cluster_total_connections()``) takes, asked on a
  survivor right after the kill, while the dead node is still known (NATS cannot tell it
  is gone; the answer is marked stale);
* ``restored``: the broker is killed, started again on the same port after ``--outage``
  seconds; the time from its restart until every node logs its link RESTORED;
* ``rejoined``: after that restart, the time until a survivor's count is current again
  (every other node answered it).

Medians and ranges over ``--rounds`` rounds. Run: ``python -m bench.failure_detection``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Proc:
    """A child process whose output lines are kept with the time they arrived."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[tuple[float, str]] = []
        self.changed = asyncio.Event()

    async def start(self, argv: Sequence[str], ready: str) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *argv, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        asyncio.get_running_loop().create_task(self._pump())
        await self.wait_for(ready, after=len(self.lines))

    async def _pump(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append((time.monotonic(), line.decode(errors="replace").rstrip()))
            self.changed.set()

    async def wait_for(self, text: str, *, after: int = 0, timeout: float = 60.0) -> float:
        """Wait for a line containing *text* at or after line *after*; give when it arrived."""
        async with asyncio.timeout(timeout):
            while True:
                for at, line in self.lines[after:]:
                    if text in line:
                        return at
                self.changed.clear()
                await self.changed.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10)
            self.kill()


class Broker(Proc):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.port = free_port()
        self.url = f"{kind}://127.0.0.1:{self.port}"

    async def run(self) -> None:
        if self.kind == "redis":
            binary = shutil.which("redis-server") or "redis-server"
            argv = [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            await self.start(argv, "Ready to accept connections")
        else:
            binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
            await self.start([binary, "-a", "127.0.0.1", "-p", str(self.port)], "Server is ready")


async def node(broker: Broker, name: str, reconnect_max: float) -> tuple[Proc, int, str]:
    port = free_port()
    proc = Proc(name)
    argv = [sys.executable, "-m", "samples.scale_out", "--port", str(port), "--exchange", broker.url]
    await proc.start([*argv, "--reconnect-max", str(reconnect_max)], "listening on")
    node_id = next(line for _, line in proc.lines if "listening on" in line).split("node ")[1].split()[0]
    return proc, port, node_id


@contextlib.asynccontextmanager
async def chat_client(port: int) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """A raw neffos client connected to namespace ``chat``."""
    async with aiohttp.ClientSession() as session, session.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send_str("M")
        assert (await ws.receive_str()).startswith("A")
        await ws.send_str("$c;chat;;_OnNamespaceConnect;0;0;")
        assert (await ws.receive_str()).startswith("$c;")
        yield ws


async def ask(ws: aiohttp.ClientWebSocketResponse, event: str, token: str) -> str:
    await ws.send_str(f"{token};chat;;{event};0;0;")
    while True:
        raw = await ws.receive_str()
        if raw.startswith(f"{token};"):
            return raw.split(";", 6)[6]


async def one_round(kind: str, args: argparse.Namespace) -> dict[str, float]:
    broker = Broker(kind)
    procs: list[Proc] = [broker]
    try:
        await broker.run()
        nodes = [await node(broker, f"node{i}", args.reconnect_max) for i in range(3)]
        procs += [proc for proc, _, _ in nodes]
        for proc, _, _ in nodes:
            await proc.wait_for("the cluster now has 3 node(s)")
        (a, a_port, _), (b, _, _), (c, _, c_id) = nodes
        result: dict[str, float] = {}
        async with contextlib.AsyncExitStack() as stack:
            ws, _, _ = [await stack.enter_async_context(chat_client(port)) for _, port, _ in nodes]
            # A random moment between two beats of the node: the nodes started in step with the
            # lines waited for, and a count now would refresh when it was last heard of.
            await asyncio.sleep(random.uniform(0, 1))
            marks = [a.lines.__len__(), b.lines.__len__()]
            killed = time.monotonic()
            c.kill()
            started = time.monotonic()
            answer = await ask(ws, "online", "2")
            result["count"] = time.monotonic() - started
            seen = await asyncio.gather(
                a.wait_for(f"node {c_id} went silent", after=marks[0]),
                b.wait_for(f"node {c_id} went silent", after=marks[1]),
            )
            result["forget"] = max(seen) - killed
            result["count_stale"] = float(answer.endswith("(stale)"))
        survivors = [a, b]
        marks = [len(p.lines) for p in survivors]
        broker.kill()
        assert broker.proc is not None
        await broker.proc.wait()
        for proc, mark in zip(survivors, marks, strict=True):
            await proc.wait_for("link LOST", after=mark)
        await asyncio.sleep(args.outage)
        marks = [len(p.lines) for p in survivors]
        restarted = time.monotonic()
        await broker.run()
        restored = [await p.wait_for("link RESTORED", after=m) for p, m in zip(survivors, marks, strict=True)]
        result["restored"] = max(restored) - restarted
        async with chat_client(a_port) as ws:
            while await ask(ws, "online", "3") != "1":  # current again: every node answered
                pass
        result["rejoined"] = time.monotonic() - restarted
        return result
    finally:
        for proc in reversed(procs):
            await proc.stop()


async def main(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {kind: {} for kind in args.kinds}
    for r in range(args.rounds):
        for kind in args.kinds:
            got = await one_round(kind, args)
            for key, value in got.items():
                results[kind].setdefault(key, []).append(value)
            print(
                f"round {r + 1} {kind}: " + json.dumps({k: round(v, 3) for k, v in got.items()}), flush=True
            )
    print(
        f"\nmedian [min-max] over {args.rounds} rounds (seconds; outage {args.outage}s,"
        f" reconnect_max {args.reconnect_max}s)"
    )
    for kind, measures in results.items():
        parts = []
        for key, values in measures.items():
            if key == "count_stale":
                parts.append(f"count marked stale {int(sum(values))}/{len(values)}")
            else:
                parts.append(f"{key} {statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]")
        print(f"{kind:6} " + ", ".join(parts))
    return results


def cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", nargs="+", default=["redis", "nats"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--outage", type=float, default=2.0, help="seconds the broker stays down")
    parser.add_argument("--reconnect-max", type=float, default=5.0, help="the nodes' --reconnect-max")
    asyncio.run(main(parser.parse_args(argv)))


if __name__ == "__main__":
    cli()
