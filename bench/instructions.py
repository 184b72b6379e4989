"""Server instructions per ask/reply round trip, counted by callgrind: repeatable on a noisy box.

CPU seconds on a shared 2-core VM swing by +-30% between identical runs; instruction counts
do not. Each server kind of `bench.servers` runs under ``valgrind --tool=callgrind`` with
collection off; the load generator warms it up, switches collection on for exactly N
round trips (``callgrind_control -i on``), off again, and asks for a dump, which
dump then holds the instructions of that window only. The report gives instructions per
round trip and the ratio to ``raw`` (aiohttp's own echo).

Run: ``python -m bench.instructions`` (needs valgrind; slow: the servers run ~50x slower).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench.hot_path import free_port, open_client, serving
from bench.servers import BODIES


@contextlib.asynccontextmanager
async def under_callgrind(kind: str, out: Path) -> AsyncIterator[tuple[str, int]]:
    """Run server *kind* under callgrind with collection off; give its URL and pid."""
    port = free_port()
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
        sys.executable, "-m", "bench.servers", kind, "--port", str(port),
    ]  # fmt: skip
    async with serving(command, port, wait=120, stop=120) as pid:
        yield f"http://127.0.0.1:{port}", pid


async def control(pid: int, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "callgrind_control", *args, str(pid), stdout=asyncio.subprocess.DEVNULL
    )
    await proc.wait()


async def instructions_per_round_trip(kind: str, round_trips: int, clients: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        connector = aiohttp.TCPConnector(limit=0)
        async with (
            under_callgrind(kind, out) as (base, pid),
            aiohttp.ClientSession(connector=connector) as session,
        ):
            sockets = [await open_client(session, base) for _ in range(clients)]

            body = BODIES.get(kind, "hello")

            async def run(ws: aiohttp.ClientWebSocketResponse, count: int) -> None:
                for i in range(count):
                    await ws.send_str(f"${i};default;;echo;0;0;{body}")
                    await ws.receive()

            await asyncio.gather(*(run(ws, 50) for ws in sockets))  # warm up
            await control(pid, "-i", "on")
            await asyncio.gather(*(run(ws, round_trips // clients) for ws in sockets))
            await control(pid, "-i", "off")
            await control(pid, "--dump")  # written as <out>.1: the window's counts only
            for ws in sockets:
                await ws.close()
        text = out.with_name(out.name + ".1").read_text()
    match = re.search(r"^totals: (\d+)", text, re.MULTILINE)
    if match is None:
        raise RuntimeError("no totals in the callgrind output")
    return int(match.group(1)) / (round_trips // clients * clients)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", default="raw,neffos", help="server kinds, comma separated (raw first)")
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind (with callgrind_control) is needed: apt-get install valgrind")
    results: dict[str, float] = {}
    for kind in args.kinds.split(","):
        results[kind] = await instructions_per_round_trip(kind, args.round_trips, args.clients)
        print(f"{kind:>8}: {results[kind]:9.0f} instructions per round trip", flush=True)
    base = next(iter(results.values()))
    sizes = f"{args.round_trips} round trips, {args.clients} clients"
    print(f"\nserver instructions per ask/reply round trip ({sizes}):")
    for kind, count in results.items():
        print(f"  {kind:>8}: {count:9.0f} ({count / base:.2f}x)")


if __name__ == "__main__":
    asyncio.run(main())
