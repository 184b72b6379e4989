"""Server instructions per ask/reply round trip, counted by callgrind: repeatable on a noisy box.

CPU seconds on a shared 2-core VM swing by +-30% between identical runs; instruction counts
do not. Each server kind of `bench.servers` runs under ``valgrind --tool=callgrind`` with
collection off; the load generator warms it up, switches collection on for exactly N
round trips (``callgrind_control -i on``), off again, and asks for a dump, which
dump then holds the instructions of that window only. The report gives instructions per
round trip and the ratio to ``raw`` (aiohttp's own echo).

Run: ``python -m bench.instructions`` (needs valgrind; slow: the servers run ~50x slower).

The regression guard (``make bench-check``): ``--check`` measures every kind of the committed
budgets (`BUDGETS`, ``bench/budgets.json``) and fails when one costs more than 3 % over its
budget; ``--update`` measures and writes the budgets (commit them with the change that
earned them). ``raw`` is measured too: when aiohttp's own count moved, the environment
changed (Python, aiohttp) and the budgets need an ``--update`` there first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench.hot_path import free_port, open_client, serving
from bench.servers import BODIES

BUDGETS = Path(__file__).with_name("budgets.json")
"""Committed instruction counts per round trip, by kind: what ``--check`` compares against."""
TOLERANCE = 0.03
"""How far over its budget a kind may go before ``--check`` fails (callgrind repeats to ~1 %)."""


L2_CACHE = "--LL=1048576,16,64"
"""The cache model of ``--cache-sim``: one core's 1 MiB L2 as the last level (what misses it
pays tens of cycles; callgrind's default would model the shared 32 MiB L3)."""


@contextlib.asynccontextmanager
async def under_callgrind(kind: str, out: Path, cache: bool = False) -> AsyncIterator[tuple[str, int]]:
    """Run server *kind* under callgrind with collection off (*cache*: simulating the caches);
    give its URL and pid."""
    port = free_port()
    simulate = ["--cache-sim=yes", L2_CACHE] if cache else []
    command = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", *simulate,
        sys.executable, "-m", "bench.servers", kind, "--port", str(port),
    ]  # fmt: skip
    async with serving(command, port, wait=120, stop=120) as pid:
        yield f"http://127.0.0.1:{port}", pid


async def control(pid: int, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "callgrind_control", *args, str(pid), stdout=asyncio.subprocess.DEVNULL
    )
    await proc.wait()


async def instructions_per_round_trip(
    kind: str, round_trips: int, clients: int, keep: Path | None = None, cache: bool = False
) -> float:
    """Count the server's instructions per round trip of *kind* (with *cache*, also print the
    simulated cache misses per round trip)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        connector = aiohttp.TCPConnector(limit=0)
        async with (
            under_callgrind(kind, out, cache) as (base, pid),
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
        dump = out.with_name(out.name + ".1")
        text = dump.read_text()
        if keep is not None:
            await asyncio.to_thread(keep.mkdir, parents=True, exist_ok=True)
            shutil.copy(dump, keep / f"callgrind.{kind}.{clients}.out")
    match = re.search(r"^totals: (\d+)", text, re.MULTILINE)
    events = re.search(r"^events: (.+)$", text, re.MULTILINE)
    if match is None or events is None:
        raise RuntimeError("no totals in the callgrind output")
    done = round_trips // clients * clients
    if cache:
        totals = re.search(r"^totals: (.+)$", text, re.MULTILINE)
        assert totals is not None
        per = {
            name: int(n) / done
            for name, n in zip(events.group(1).split(), totals.group(1).split(), strict=True)
        }
        misses = ", ".join(f"{name} {count:.0f}" for name, count in per.items())
        print(f"{kind:>8} at {clients} clients, per round trip: {misses}")
    return int(match.group(1)) / done


def environment() -> dict[str, str]:
    """Say what the counts depend on besides our code."""
    import aiohttp

    return {"python": platform.python_version(), "aiohttp": aiohttp.__version__}


def check(results: dict[str, float], budgets: dict[str, float]) -> list[str]:
    """Give one line per kind over its budget by more than `TOLERANCE` (none: the check passes)."""
    failures = []
    for kind, budget in budgets.items():
        if kind == "raw":
            continue  # aiohttp's own cost: a moved baseline says the environment changed
        ratio = results[kind] / budget
        if ratio > 1 + TOLERANCE:
            failures.append(
                f"{kind}: {results[kind]:.0f} instructions per round trip, budget {budget:.0f} "
                f"(+{(ratio - 1) * 100:.1f} %, more than {TOLERANCE * 100:.0f} %)"
            )
    return failures


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", default="raw,neffos", help="server kinds, comma separated (raw first)")
    parser.add_argument("--round-trips", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="keep each callgrind dump in this folder")
    parser.add_argument("--cache-sim", action="store_true", help="also simulate the caches (L1, 1 MiB L2)")
    parser.add_argument("--check", action="store_true", help=f"fail past {BUDGETS.name} (+3 %%)")
    parser.add_argument("--update", action="store_true", help=f"write the measured counts to {BUDGETS.name}")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind (with callgrind_control) is needed: apt-get install valgrind")
    committed = json.loads(BUDGETS.read_text()) if BUDGETS.exists() else None
    kinds = args.kinds.split(",")
    if args.check or args.update:
        if committed is not None and args.check:
            kinds = list(committed["instructions"])
            args.round_trips, args.clients = committed["round_trips"], committed["clients"]
        elif args.check:
            raise SystemExit(f"no budgets yet: run with --update first ({BUDGETS})")
        else:
            kinds = ["raw", "neffos", "mvc", "typed"]
    results: dict[str, float] = {}
    for kind in kinds:
        results[kind] = await instructions_per_round_trip(
            kind, args.round_trips, args.clients, args.keep, args.cache_sim
        )
        print(f"{kind:>8}: {results[kind]:9.0f} instructions per round trip", flush=True)
    base = next(iter(results.values()))
    sizes = f"{args.round_trips} round trips, {args.clients} clients"
    print(f"\nserver instructions per ask/reply round trip ({sizes}):")
    for kind, count in results.items():
        budget = committed["instructions"].get(kind) if committed is not None else None
        against = f"  budget {budget:9.0f} ({(count / budget - 1) * 100:+.1f} %)" if budget else ""
        print(f"  {kind:>8}: {count:9.0f} ({count / base:.2f}x){against}")
    if args.update:
        BUDGETS.write_text(
            json.dumps(
                {
                    "round_trips": args.round_trips,
                    "clients": args.clients,
                    "environment": environment(),
                    "instructions": {kind: round(count) for kind, count in results.items()},
                },
                indent=2,
            )
            + "\n"
        )
        print(f"wrote {BUDGETS}")
        return 0
    if args.check:
        assert committed is not None
        if committed["environment"] != environment():
            print(f"note: the budgets were measured on {committed['environment']}, this is {environment()}")
        failures = check(results, committed["instructions"])
        for line in failures:
            print(f"REGRESSION {line}")
        if failures:
            return 1
        print(f"bench-check: every kind within {TOLERANCE * 100:.0f} % of its budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
