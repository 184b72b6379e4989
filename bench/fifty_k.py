"""50,000 neffos connections to one server process, with pings on, and a broadcast to all.

For each size (5,000, 15,000 and 50,000 by default) and each server kind, on a fresh server
process pinned to one core (pings every 25 s, aioneffos's default; raw aiohttp gets the same
heartbeat), the Node load generator on the other core opens the connections from several
loopback source addresses (127.0.0.x, 2,000 connections from each:
`bench.loadgen.PORTS_PER_SOURCE` says why) and reports:

* the connect rate (upgrade, ``M``/``A``, namespace connect, 200 at a time) and the
  server's CPU per connection set-up;
* resident memory per connection;
* the time from asking for a broadcast until the last connection got it, and the server's
  send loop (medians of a few broadcasts), with milliseconds per 1,000 connections to show
  whether it grows linearly from the smallest size;
* the server's CPU while every connection sits idle (pings and their pongs included).

The open-file limit is raised as far as this user may (root: to ``fs.nr_open``) for the
server and the load generator. Run: ``python -m bench.fifty_k`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Any

from bench.hot_path import PINNED, running
from bench.loadgen import load, machine_load, med, prepare, run_report, sources


async def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", default="raw,neffos,mvc", help="server kinds, comma separated (raw first)")
    parser.add_argument("--loops", default="asyncio", help="event loops: asyncio, uvloop or both")
    parser.add_argument("--sizes", default="5000,15000,50000", help="connections per run")
    parser.add_argument("--broadcasts", type=int, default=5, help="broadcasts to all per run")
    parser.add_argument(
        "--idle", type=float, default=50.0, help="seconds of idle CPU measured (two ping intervals)"
    )
    parser.add_argument("--in-flight", type=int, default=200, help="connections opening at a time")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()
    kinds, loops = args.kinds.split(","), args.loops.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    limit = prepare()
    needed = max(sizes) + 200
    if limit < needed:
        raise SystemExit(
            f"the open-file limit is {limit} and cannot be raised here (hard limit, no CAP_SYS_RESOURCE); "
            f"{needed} are needed: raise it (ulimit -Hn / limits.conf) or pass --sizes up to {limit - 200}"
        )
    notes = [await machine_load()]
    print(f"pinned: {PINNED}; open files: {limit}; {notes[0]}", flush=True)
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    source = 2
    for round_no in range(args.rounds):
        for size in sizes:
            for loop in loops:
                for kind in kinds:
                    used = sources(size)
                    async with running(kind, loop=loop, pings=True) as base:
                        result = await load(
                            {
                                "mode": "hold",
                                "base": base,
                                "connections": size,
                                "inFlight": args.in_flight,
                                "sources": used,
                                "sourceBase": source,
                                "broadcasts": args.broadcasts,
                                "size": 32,
                                "idleSeconds": args.idle,
                            },
                            timeout=1800,
                        )
                    # Fresh source addresses next time: the ports of this run linger in TIME_WAIT.
                    source = 2 + (source - 2 + used) % 200
                    results[(loop, kind, size)].append(result)
                    print(
                        f"round {round_no + 1} {loop:>7} {kind:>7} {size:>6}: "
                        f"connect {result['connectRate']:6.0f}/s "
                        f"({result['connectCpuUs']:4.0f} us CPU each), "
                        f"{result['idleKib']:5.1f} KiB/conn, RSS {result['rssMib']:6.0f} MiB, "
                        f"broadcast last {result['broadcastLastMs']:6.1f} ms "
                        f"(send {result['broadcastSendMs']:6.1f}), "
                        f"idle CPU {result['idleCpuPercent']:4.1f}%, open {result['stillOpen']}",
                        flush=True,
                    )
        notes.append(await machine_load())
    lines = [
        "| loop | kind | connections | connect rate | CPU per set-up | RSS per connection | RSS | "
        "broadcast: last delivery | ms per 1,000 | send loop | idle CPU (pings every 25 s) |",
        "|---" * 11 + "|",
    ]
    for loop in loops:
        for kind in kinds:
            for size in sizes:
                runs = results[(loop, kind, size)]

                def m(key: str, runs: list[dict[str, Any]] = runs) -> float:
                    return med([r[key] for r in runs])

                lines.append(
                    f"| {loop} | {kind} | {size:,} | {m('connectRate'):,.0f}/s | "
                    f"{m('connectCpuUs'):.0f} us | "
                    f"{m('idleKib'):.1f} KiB | {m('rssMib'):,.0f} MiB | {m('broadcastLastMs'):.0f} ms | "
                    f"{m('broadcastLastMs') / size * 1000:.1f} | {m('broadcastSendMs'):.0f} ms | "
                    f"{m('idleCpuPercent'):.1f}% |"
                )
    lines += ["", "Machine load: " + " | ".join(notes)]
    text = "\n".join(lines)
    print("\n" + text)
    report = {
        "args": vars(args),
        "runs": {f"{loop}/{kind}/{size}": runs for (loop, kind, size), runs in results.items()},
        "load": notes,
    }
    report["markdown"] = text
    return report


if __name__ == "__main__":
    run_report(main)
