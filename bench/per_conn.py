"""What one idle connection costs the server: bytes, tracked objects and tasks, by kind.

Deterministic where CPU time is not: for every server kind of `bench.servers` a fresh server
process gets N connections (the Node load generator's ``hold`` mode: upgrade, ``M``/``A``,
namespace connect; 200 at a time), and once they are all open the report gives, per
connection:

* resident memory (what the kernel sees, malloc's arenas included);
* bytes Python allocated (a second server process with ``--tracemalloc``, which would
  inflate the first figure);
* objects the cyclic garbage collector tracks (what every full collection walks), and by
  type with ``--types``;
* tasks.

Run: ``python -m bench.per_conn --kinds raw,neffos,mvc --connections 5000 [--pings] [--types]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from bench.hot_path import running
from bench.loadgen import load, prepare, sources


async def measure(kind: str, connections: int, *, pings: bool, traced: bool) -> dict[str, Any]:
    """Open *connections* to a fresh server of *kind*; give the load generator's figures."""
    extra = ("--tracemalloc",) if traced else ()
    async with running(kind, pings=pings, extra=extra) as base:
        return await load(
            {
                "mode": "hold",
                "base": base,
                "connections": connections,
                "inFlight": 200,
                "sources": sources(connections),
                "sourceBase": 2,
                "broadcasts": 0,
                "size": 32,
                "idleSeconds": 0,
                "objects": not traced,
            }
        )


async def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", default="raw,neffos,mvc", help="server kinds, comma separated")
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--pings", action="store_true", help="servers ping every 25 s (the default)")
    parser.add_argument("--types", action="store_true", help="also tracked objects per connection by type")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    prepare()
    report: dict[str, Any] = {}
    print(f"per idle connection, {args.connections:,} open{' (pings on)' if args.pings else ''}:")
    print(f"{'kind':>8} {'RSS KiB':>8} {'traced KiB':>10} {'tracked':>8} {'tasks':>6}")
    for kind in args.kinds.split(","):
        plain = await measure(kind, args.connections, pings=args.pings, traced=False)
        traced = await measure(kind, args.connections, pings=args.pings, traced=True)
        row = {
            "rss_kib": plain["idleKib"],
            "traced_kib": traced["tracedPerConn"] / 1024,
            "tracked": plain["trackedPerConn"],
            "tasks": plain["tasksPerConn"],
            "types": plain["objectsPerConn"],
        }
        report[kind] = row
        figures = f"{row['rss_kib']:8.2f} {row['traced_kib']:10.2f} {row['tracked']:8.2f} {row['tasks']:6.2f}"
        print(f"{kind:>8} {figures}", flush=True)
        if args.types:
            for name, per in sorted(row["types"].items(), key=lambda item: -item[1]):
                print(f"{'':>10}{per:6.2f} {name}")
    return {"json": args.json, "kinds": report}


if __name__ == "__main__":
    result = asyncio.run(main())
    if result["json"]:
        Path(result["json"]).write_text(json.dumps(result["kinds"], indent=2))
