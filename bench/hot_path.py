"""Hot-path benchmark: aioneffos side by side with raw aiohttp, in one run (DESIGN.md section 7).

Measures, for every server kind in `bench.servers`:

* ask/reply: server CPU per round trip (the server process's CPU seconds over N round
  trips from C concurrent clients), and the median round trip seen by the clients;
* broadcast: how long the server's send loop takes to hand one message to B clients;
* idle memory: the server's resident memory per open (acknowledged, namespace-connected)
  connection.

Kinds run interleaved, several rounds, and the report gives medians and the ratio of each
kind to ``raw``. Absolute times depend on the machine; only the ratios are the result.
Run: ``python -m bench.hot_path`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bench.servers import BODIES

PINNED = len(os.sched_getaffinity(0)) >= 2 and shutil.which("taskset") is not None
HANDSHAKE = "M"
CONNECT = "$c;default;;_OnNamespaceConnect;0;0;"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def serving(command: list[str], port: int, *, wait: float, stop: float) -> AsyncIterator[int]:
    """Run a benchmark server *command* listening on *port*; give its pid once it answers.

    Waits up to *wait* seconds for ``/stats`` to answer, and *stop* seconds for it to end.
    """
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = asyncio.get_running_loop().time() + wait
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{base}/stats") as resp:
                        if resp.status == 200:
                            break
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"{' '.join(command)} did not start")
                await asyncio.sleep(0.05)
        yield proc.pid
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), stop)


@contextlib.asynccontextmanager
async def running(
    kind: str, *, loop: str = "asyncio", pings: bool = False, extra: tuple[str, ...] = ()
) -> AsyncIterator[str]:
    """Run server *kind* in its own process (on event *loop*, pinging with *pings*, with *extra*
    arguments of `bench.servers`); give its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "bench.servers", kind, "--port", str(port), "--loop", loop, *extra]
    if pings:
        command.append("--pings")
    if PINNED:
        # The server gets core 0 to itself and this load generator core 1, so one does not
        # steal the other's CPU between measurements.
        command = ["taskset", "-c", "0", *command]
    async with serving(command, port, wait=10, stop=10):
        yield f"http://127.0.0.1:{port}"


async def server_stats(session: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    async with session.get(f"{base}/stats") as resp:
        data: dict[str, Any] = await resp.json()
        return data


async def open_client(session: aiohttp.ClientSession, base: str) -> aiohttp.ClientWebSocketResponse:
    """Open a websocket, do the neffos handshake and connect to namespace "default"."""
    ws = await session.ws_connect(f"{base}/ws", compress=0, autoping=True)
    await ws.send_str(HANDSHAKE)
    await ws.receive()
    await ws.send_str(CONNECT)
    await ws.receive()
    return ws


async def ask_reply(base: str, round_trips: int, clients: int, body: str = "hello") -> tuple[float, float]:
    """Return (server CPU microseconds per round trip, client-side median round trip in us)."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = [await open_client(session, base) for _ in range(clients)]
        per_client = round_trips // clients
        latencies: list[float] = []

        async def run(ws: aiohttp.ClientWebSocketResponse, count: int) -> None:
            for i in range(count):
                started = time.perf_counter()
                await ws.send_str(f"${i};default;;echo;0;0;{body}")
                await ws.receive()
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(run(ws, 200) for ws in sockets))  # warm up
        latencies.clear()
        before = await server_stats(session, base)
        await asyncio.gather(*(run(ws, per_client) for ws in sockets))
        after = await server_stats(session, base)
        for ws in sockets:
            await ws.close()
    cpu_us = (after["cpu"] - before["cpu"]) / (per_client * clients) * 1e6
    return cpu_us, statistics.median(latencies) * 1e6


async def broadcast_and_idle(base: str, clients: int, rounds: int) -> tuple[float, float]:
    """Return (median broadcast send-loop ms to *clients*, idle KiB per connection)."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        idle_before = (await server_stats(session, base))["rss"]
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        for start in range(0, clients, 250):
            batch = min(250, clients - start)
            sockets += await asyncio.gather(*(open_client(session, base) for _ in range(batch)))
        idle_after = (await server_stats(session, base))["rss"]
        received = 0
        everyone = asyncio.Event()

        async def reader(ws: aiohttp.ClientWebSocketResponse) -> None:
            nonlocal received
            async for _ in ws:
                received += 1
                if received == clients:
                    everyone.set()

        readers = [asyncio.create_task(reader(ws)) for ws in sockets]
        seconds: list[float] = []
        for _ in range(rounds):
            received = 0
            everyone.clear()
            async with session.get(f"{base}/broadcast?size=32") as resp:
                result = await resp.json()
            assert result["sent"] == clients, result
            await asyncio.wait_for(everyone.wait(), 60)
            seconds.append(result["seconds"])
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    return statistics.median(seconds) * 1e3, (idle_after - idle_before) / clients / 1024


async def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", default="raw,neffos", help="server kinds, comma separated (raw first)")
    parser.add_argument("--round-trips", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--broadcast-clients", type=int, default=5000)
    parser.add_argument("--broadcast-rounds", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per kind")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    results: dict[str, dict[str, list[float]]] = {
        k: {"cpu_us": [], "rtt_us": [], "bcast_ms": [], "idle_kib": []} for k in kinds
    }
    for round_no in range(args.rounds):
        for kind in kinds:
            async with running(kind) as base:
                cpu, rtt = await ask_reply(base, args.round_trips, args.clients, BODIES.get(kind, "hello"))
                bcast, idle = await broadcast_and_idle(base, args.broadcast_clients, args.broadcast_rounds)
            for key, value in zip(
                ("cpu_us", "rtt_us", "bcast_ms", "idle_kib"), (cpu, rtt, bcast, idle), strict=True
            ):
                results[kind][key].append(value)
            print(
                f"round {round_no + 1} {kind:>8}: {cpu:6.1f} us CPU/round trip, rtt {rtt:6.0f} us, "
                f"broadcast {bcast:6.1f} ms, idle {idle:5.1f} KiB/conn",
                flush=True,
            )
    print(
        f"\nmedians over {args.rounds} rounds ({args.round_trips} round trips, {args.clients} clients; "
        f"broadcast to {args.broadcast_clients}):"
    )
    base_kind = kinds[0]
    summary: dict[str, dict[str, float]] = {}
    for kind in kinds:
        med = {key: statistics.median(values) for key, values in results[kind].items()}
        summary[kind] = med
        ratio = {key: med[key] / summary[base_kind][key] for key in med}
        print(
            f"  {kind:>8}: CPU/round trip {med['cpu_us']:6.1f} us ({ratio['cpu_us']:.2f}x)  "
            f"broadcast {med['bcast_ms']:6.1f} ms ({ratio['bcast_ms']:.2f}x)  "
            f"idle {med['idle_kib']:5.1f} KiB/conn ({ratio['idle_kib']:.2f}x)"
        )
    return {"args": vars(args), "runs": results, "medians": summary}


if __name__ == "__main__":
    if PINNED:
        os.sched_setaffinity(0, {1})
    report = asyncio.run(main())
    if report["args"]["json"]:
        Path(report["args"]["json"]).write_text(json.dumps(report, indent=2))
