"""How cost grows with connections: aioneffos side by side with raw aiohttp, in one run.

For every server kind of `bench.servers` (on every event loop asked for), interleaved over
several rounds, with the Node load generator (`bench/load.mjs`) on the other core:

* echo at C = 1, 50, 500 and 5,000 concurrent connections: server CPU per ask/reply round
  trip, and the 99th percentile of the round trip seen by the clients;
* connection set-up at the largest broadcast size (15,000): connections per second and
  server CPU per set-up (upgrade, ``M``/``A``, namespace connect);
* broadcast to 1,000, 5,000 and 15,000: the server's send loop, and the time until the last
  connection got the message (as the load generator sees it);
* idle memory: resident memory per open connection at 5,000 (50,000: `bench.fifty_k`).

Each broadcast size runs on a fresh server process (memory is measured on a clean heap).
Ratios to the first kind (``raw``) on the same loop are the result; absolute figures
depend on the machine. Run: ``python -m bench.scale`` (``--help`` for sizes);
``--markdown FILE`` writes the tables as docs/performance.md gives them.
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from typing import Any

from bench.hot_path import PINNED, running
from bench.loadgen import load, machine_load, med, prepare, run_report, sources, spread
from bench.servers import BODIES

Results = dict[tuple[str, str], dict[str, list[float]]]


async def one_round(kind: str, loop: str, args: argparse.Namespace, results: Results, run_no: int) -> None:
    """Measure *kind* on *loop* once at every size; append to *results*."""
    cell = results[(loop, kind)]
    async with running(kind, loop=loop) as base:
        for clients in args.clients:
            echo = await load(
                {
                    "mode": "echo",
                    "base": base,
                    "clients": clients,
                    "roundTrips": max(args.round_trips, clients * 4),
                    "warmup": args.warmup,
                    "body": BODIES.get(kind, "hello"),
                }
            )
            cell[f"cpu_us@{clients}"].append(echo["cpuUs"])
            cell[f"p99_ms@{clients}"].append(echo["p99Us"] / 1e3)
            print(
                f"  {loop:>7} {kind:>7} echo C={clients:<5}: {echo['cpuUs']:6.1f} us CPU/rt, "
                f"p99 {echo['p99Us'] / 1e3:7.2f} ms, {echo['perSecond']:7.0f} rt/s",
                flush=True,
            )
    for size in args.broadcast:
        async with running(kind, loop=loop) as base:
            hold = await load(
                {
                    "mode": "hold",
                    "base": base,
                    "connections": size,
                    "inFlight": args.in_flight,
                    "sources": sources(size),
                    "sourceBase": 2 + (run_no * 8) % 240,
                    "broadcasts": args.broadcast_rounds,
                    "size": 32,
                    "idleSeconds": 0,
                }
            )
        cell[f"send_ms@{size}"].append(hold["broadcastSendMs"])
        cell[f"last_ms@{size}"].append(hold["broadcastLastMs"])
        cell[f"connect_rate@{size}"].append(hold["connectRate"])
        cell[f"connect_cpu_us@{size}"].append(hold["connectCpuUs"])
        cell[f"idle_kib@{size}"].append(hold["idleKib"])
        cell[f"tasks@{size}"].append(hold["tasksPerConn"])
        cell[f"gc_us@{size}"].append(sum(hold["connectGcUs"]))
        print(
            f"  {loop:>7} {kind:>7} hold {size:<6}: connect {hold['connectRate']:6.0f}/s "
            f"({hold['connectCpuUs']:5.0f} us CPU each), broadcast send {hold['broadcastSendMs']:6.1f} ms, "
            f"last delivery {hold['broadcastLastMs']:6.1f} ms, idle {hold['idleKib']:5.1f} KiB/conn, "
            f"{hold['tasksPerConn']:.2f} tasks/conn",
            flush=True,
        )


def table(results: Results, loop: str, kinds: list[str], args: argparse.Namespace) -> list[str]:
    """Format the medians (ranges) and ratios to the first kind of *loop* as markdown rows."""
    base = results[(loop, kinds[0])]
    rows: list[tuple[str, str, str]] = []
    for clients in args.clients:
        rows.append((f"CPU per round trip, C={clients:,}", f"cpu_us@{clients}", "{:.1f} us"))
    for clients in args.clients:
        rows.append((f"p99 round trip, C={clients:,}", f"p99_ms@{clients}", "{:.2f} ms"))
    top = max(args.broadcast)
    rows.append((f"connect rate, {top:,} connections", f"connect_rate@{top}", "{:.0f}/s"))
    rows.append((f"server CPU per connection set-up ({top:,})", f"connect_cpu_us@{top}", "{:.0f} us"))
    rows.append((f"of which garbage collection ({top:,})", f"gc_us@{top}", "{:.0f} us"))
    for size in args.broadcast:
        rows.append((f"broadcast to {size:,}: send loop", f"send_ms@{size}", "{:.1f} ms"))
        rows.append((f"broadcast to {size:,}: last delivery", f"last_ms@{size}", "{:.1f} ms"))
    idle = 5000 if 5000 in args.broadcast else args.broadcast[0]
    rows.append((f"idle memory per connection ({idle:,})", f"idle_kib@{idle}", "{:.1f} KiB"))
    rows.append((f"tasks per connection ({idle:,})", f"tasks@{idle}", "{:.2f}"))
    lines = [f"| {loop} | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for label, key, fmt in rows:
        cells = []
        for kind in kinds:
            values = results[(loop, kind)][key]
            text = fmt.format(med(values))
            if kind != kinds[0] and not key.startswith("tasks"):
                text += f" ({med(values) / med(base[key]):.2f}x)"
            cells.append(text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


async def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", default="raw,neffos,mvc", help="server kinds, comma separated (raw first)")
    parser.add_argument("--loops", default="asyncio", help="event loops: asyncio, uvloop or both")
    parser.add_argument("--clients", default="1,50,500,5000", help="concurrent connections of the echo runs")
    parser.add_argument("--round-trips", type=int, default=20000, help="round trips per echo run")
    parser.add_argument("--warmup", type=int, default=20, help="round trips per connection before measuring")
    parser.add_argument("--broadcast", default="1000,5000,15000", help="connections of the broadcast runs")
    parser.add_argument("--broadcast-rounds", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=200, help="connections opening at a time")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--markdown", help="also write the tables to this file")
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    args.broadcast = [int(c) for c in args.broadcast.split(",")]
    kinds = args.kinds.split(",")
    loops = args.loops.split(",")
    prepare()
    results: Results = defaultdict(lambda: defaultdict(list))
    load_notes = [await machine_load()]
    print(f"pinned: {PINNED}; {load_notes[0]}", flush=True)
    run_no = 0
    for round_no in range(args.rounds):
        print(f"round {round_no + 1}:", flush=True)
        for loop in loops:
            for kind in kinds:
                await one_round(kind, loop, args, results, run_no)
                run_no += 1
        load_notes.append(await machine_load())
        print(f"  {load_notes[-1]}", flush=True)
    lines = [
        f"Medians of {args.rounds} interleaved rounds (range in brackets in the JSON); "
        f"server pinned to core 0, load generator to core 1: {PINNED}.",
        "",
    ]
    for loop in loops:
        lines += table(results, loop, kinds, args)
        lines.append("")
    lines.append("Machine load during the run: " + " | ".join(load_notes))
    text = "\n".join(lines)
    print("\n" + text)
    ranges = {
        f"{loop}/{kind}": {key: spread(values, "{:.2f}") for key, values in cell.items()}
        for (loop, kind), cell in results.items()
    }
    report = {
        "args": {k: v for k, v in vars(args).items()},
        "runs": {f"{loop}/{kind}": cell for (loop, kind), cell in results.items()},
        "ranges": ranges,
        "load": load_notes,
        "cores": len(os.sched_getaffinity(0)),
    }
    report["markdown"] = text
    return report


if __name__ == "__main__":
    run_report(main)
