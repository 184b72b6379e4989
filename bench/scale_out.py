"""Scale-out benchmark: a broadcast through Redis and NATS across 3 nodes, side by side with 1 node.

Every configuration runs in the same run, interleaved over several rounds:

* ``single``: one node (no broker); the sender and all receivers are on it;
* ``redis`` / ``nats``: three nodes on one broker; the sender is on node 1 and the
  receivers are spread evenly over the three nodes.

Each node is its own process (``python -m bench.scale_out node ...``) whose only event
relays a sender's message to every other connection of the namespace
(``ns.broadcast(..., exclude_self=True)``). Clients are raw websockets in this process.

* throughput: the sender emits N messages, keeping at most W ahead of the slowest
  receiver; messages/s = N / time until every receiver has all N;
* latency: one message at a time; the time from send to each receiver's arrival,
  split into receivers on the sender's node (local) and on the other nodes (remote).

The report gives medians over the rounds, each configuration's ratio to ``single``, and
the latency a cross-node broadcast adds: the remote median minus the single-node median,
and minus the local median of the same cluster.
Absolute numbers depend on the machine (here 2 cores shared by 3 nodes, the broker and
the clients); the side-by-side ratios are the result. Run: ``python -m bench.scale_out``
(``--help`` for sizes; needs redis-server and nats-server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

NAMESPACE = "bench"
CONNECT = f"$c;{NAMESPACE};;_OnNamespaceConnect;0;0;"
SYNC = f"$s;{NAMESPACE};;sync;0;0;"
PREFIX = f";{NAMESPACE};;b;0;0;"
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the node process -------------------------------------------------------------


async def run_node(port: int, exchange_url: str) -> None:
    """Serve the relay on *port*; print ``ready`` once listening."""
    from aiohttp import web

    from aioneffos.framework import LocalExchange, Message, NSConn, Server, handler, setup

    exchange: Any = LocalExchange()
    if exchange_url.startswith("redis"):
        from aioneffos.framework.scaleout import RedisExchange

        exchange = RedisExchange(exchange_url)
    elif exchange_url.startswith("nats"):
        from aioneffos.framework.scaleout import NATSExchange

        exchange = NATSExchange(exchange_url)

    def relay(ns: NSConn, msg: Message) -> None:
        ns.broadcast("b", msg.body, exclude_self=True)

    async def sync(_: NSConn, __: Message) -> str:
        return "ok" if await server.exchange.synced(10.0) else "not synced"

    server = Server({NAMESPACE: {"b": relay, "sync": sync}}, exchange=exchange, ping_interval=None)
    app = web.Application()
    app.router.add_get("/ws", handler(server))
    setup(app, server)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# -- processes ----------------------------------------------------------------------


async def spawn(argv: Sequence[str], ready: str, *, stderr: bool = False) -> asyncio.subprocess.Process:
    """Start *argv* and wait for a line containing *ready* on stdout (or stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if stderr else asyncio.subprocess.DEVNULL,
    )
    stream = proc.stderr if stderr else proc.stdout
    assert stream is not None
    async with asyncio.timeout(30):
        while ready not in (line := (await stream.readline()).decode()):
            if not line:
                raise RuntimeError(f"{argv[0]} exited before saying {ready!r}")
    # Keep draining the pipe so the process never blocks on a full one.
    asyncio.get_running_loop().create_task(_drain(stream))
    return proc


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


@contextlib.asynccontextmanager
async def cluster(kind: str, nodes: int) -> AsyncIterator[list[str]]:
    """Start a broker of *kind* (none for ``single``) and *nodes* nodes; give their ws URLs."""
    procs: list[asyncio.subprocess.Process] = []
    url = ""
    try:
        if kind == "redis":
            port = free_port()
            redis = shutil.which("redis-server") or "redis-server"
            argv = [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            procs.append(await spawn(argv, "Ready to accept connections"))
            url = f"redis://127.0.0.1:{port}"
        elif kind == "nats":
            port = free_port()
            nats = shutil.which("nats-server") or "/usr/sbin/nats-server"
            procs.append(
                await spawn([nats, "-a", "127.0.0.1", "-p", str(port)], "Server is ready", stderr=True)
            )
            url = f"nats://127.0.0.1:{port}"
        ports = [free_port() for _ in range(nodes)]
        argv = [sys.executable, "-m", "bench.scale_out", "node", "--exchange", url, "--port"]
        procs += await asyncio.gather(*(spawn([*argv, str(p)], "ready") for p in ports))
        yield [f"ws://127.0.0.1:{p}/ws" for p in ports]
    finally:
        for proc in reversed(procs):
            if proc.returncode is None:
                proc.terminate()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 10)
                if proc.returncode is None:
                    proc.kill()


# -- clients --------------------------------------------------------------------------


class Peer:
    """A raw neffos websocket: handshake, namespace connect, and (for receivers) arrival times."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, node: int) -> None:
        self.ws = ws
        self.node = node
        self.count = 0
        self.arrivals: dict[str, int] = {}
        self.changed: asyncio.Event = asyncio.Event()

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, url: str, node: int) -> Peer:
        ws = await session.ws_connect(url, max_msg_size=0)
        await ws.send_str("M")
        assert (await ws.receive_str()).startswith("A")
        await ws.send_str(CONNECT)
        assert (await ws.receive_str()).startswith("$c;")
        await ws.send_str(SYNC)  # answered once the node's subscriptions are live
        assert (await ws.receive_str()) == f"$s;{NAMESPACE};;sync;0;0;ok"
        return cls(ws, node)

    async def receive_forever(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter_ns()
            tag = raw.data[len(PREFIX) :].split(":", 1)[0]
            self.arrivals[tag] = now
            self.count += 1
            self.changed.set()


async def wait_all(receivers: list[Peer], done: Any) -> None:
    """Wait until *done(receiver)* holds for every receiver."""
    for peer in receivers:
        while not done(peer):
            peer.changed.clear()
            await peer.changed.wait()


async def measure(kind: str, urls: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """One round on a running cluster: throughput, then latency."""
    async with aiohttp.ClientSession() as session:
        sender = await Peer.open(session, urls[0], 0)
        per_node = args.receivers // len(urls)
        receivers = [
            await Peer.open(session, url, node) for node, url in enumerate(urls) for _ in range(per_node)
        ]
        readers = [asyncio.get_running_loop().create_task(r.receive_forever()) for r in receivers]
        try:
            started = time.perf_counter()
            for seq in range(args.messages):
                if seq >= args.window:
                    floor = seq - args.window + 1
                    await wait_all(receivers, lambda p, floor=floor: p.count >= floor)
                await sender.ws.send_str(f"{PREFIX}t{seq}:")
            await wait_all(receivers, lambda p: p.count >= args.messages)
            elapsed = time.perf_counter() - started
            local: list[float] = []
            remote: list[float] = []
            for i in range(args.samples):
                tag = f"l{i}"
                sent = time.perf_counter_ns()
                await sender.ws.send_str(f"{PREFIX}{tag}:")
                await wait_all(receivers, lambda p, tag=tag: tag in p.arrivals)
                for peer in receivers:
                    (local if peer.node == 0 else remote).append((peer.arrivals[tag] - sent) / 1e6)
        finally:
            for task in readers:
                task.cancel()
            for peer in [sender, *receivers]:
                await peer.ws.close()
    return {
        "msgs_per_s": args.messages / elapsed,
        "deliveries_per_s": args.messages * len(receivers) / elapsed,
        "local_ms": statistics.median(local),
        "remote_ms": statistics.median(remote) if remote else None,
        "remote_p99_ms": statistics.quantiles(remote, n=100)[98] if len(remote) > 1 else None,
    }


# -- report ---------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    layout = {"single": 1, "redis": 3, "nats": 3}
    rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in args.kinds}
    async with contextlib.AsyncExitStack() as stack:
        clusters = {kind: await stack.enter_async_context(cluster(kind, layout[kind])) for kind in args.kinds}
        for r in range(args.rounds):
            for kind in args.kinds:
                result = await measure(kind, clusters[kind], args)
                rounds[kind].append(result)
                shown = {key: round(value, 3) if value else value for key, value in result.items()}
                print(f"round {r + 1} {kind}: {json.dumps(shown)}", flush=True)
    summary: dict[str, dict[str, Any]] = {
        kind: {
            key: statistics.median(x[key] for x in results) if results[0][key] is not None else None
            for key in results[0]
        }
        for kind, results in rounds.items()
    }
    base = summary.get("single")
    print(
        f"\n{args.receivers} receivers, {args.messages} messages (window {args.window}), "
        f"{args.samples} latency samples, median of {args.rounds} rounds\n"
    )
    print(
        f"{'config':8} {'msgs/s':>9} {'deliv/s':>9} {'vs single':>9} {'local p50':>10} "
        f"{'remote p50':>10} {'remote p99':>10} {'added vs 1 node':>15} {'added vs local':>14}"
    )
    for kind, s in summary.items():
        ratio = s["msgs_per_s"] / base["msgs_per_s"] if base else float("nan")
        remote = s["remote_ms"]
        line = (
            f"{kind:8} {s['msgs_per_s']:9.0f} {s['deliveries_per_s']:9.0f} {ratio:8.2f}x "
            f"{s['local_ms']:8.3f}ms "
        )
        if remote is not None:
            line += f"{remote:8.3f}ms {s['remote_p99_ms']:8.3f}ms "
            if base:
                line += f"{remote - base['local_ms']:+13.3f}ms "
            line += f"{remote - s['local_ms']:+12.3f}ms"
        print(line)
    return summary


def cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    node = sub.add_parser("node", help="run one benchmark node (used by the benchmark itself)")
    node.add_argument("--port", type=int, required=True)
    node.add_argument("--exchange", default="")
    parser.add_argument("--kinds", nargs="+", default=["single", "redis", "nats"])
    parser.add_argument("--receivers", type=int, default=6, help="receivers in all (split over the nodes)")
    parser.add_argument("--messages", type=int, default=3000, help="messages per throughput run")
    parser.add_argument("--window", type=int, default=200, help="messages ahead of the slowest receiver")
    parser.add_argument("--samples", type=int, default=300, help="one-at-a-time messages for latency")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    if args.command == "node":
        asyncio.run(run_node(args.port, args.exchange))
        return
    summary = asyncio.run(main(args))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    cli()
