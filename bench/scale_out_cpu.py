"""CPU per broadcast, process by process: where a scale-out broadcast spends its time.

For ``single`` (one node), ``redis`` and ``nats`` (three nodes on a broker), the load of
`bench.scale_out` (one sender, 6 receivers, a window of 200) runs once to warm up, then
once measured; each process's user+system CPU time (``/proc/<pid>/stat``; this process's
own for the load generator) over the measured run, divided by the number of broadcasts,
is reported in microseconds. Steadier than broadcasts per second on a shared machine: the
sum says what a broadcast costs the whole machine. Linux only.

Run: ``python -m bench.scale_out_cpu [--messages 6000] [--kinds single redis nats]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from collections.abc import Sequence

from bench import scale_out

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Give the user+system CPU seconds process *pid* has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu_seconds() -> float:
    """Give this process's user+system CPU seconds."""
    times = os.times()
    return times.user + times.system


async def run(kind: str, messages: int) -> dict[str, float]:
    """Measure *kind*; give the microseconds of CPU per broadcast of each process."""
    procs: list[tuple[str, asyncio.subprocess.Process]] = []
    url = ""
    try:
        if kind == "nats":
            port = scale_out.free_port()
            nats = shutil.which("nats-server") or "/usr/sbin/nats-server"
            argv = [nats, "-a", "127.0.0.1", "-p", str(port)]
            procs.append(("broker", await scale_out.spawn(argv, "Server is ready", stderr=True)))
            url = f"nats://127.0.0.1:{port}"
        elif kind == "redis":
            port = scale_out.free_port()
            redis = shutil.which("redis-server") or "redis-server"
            argv = [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            procs.append(("broker", await scale_out.spawn(argv, "Ready to accept connections")))
            url = f"redis://127.0.0.1:{port}"
        ports = [scale_out.free_port() for _ in range(1 if kind == "single" else 3)]
        for i, port in enumerate(ports):
            argv = [sys.executable, "-m", "bench.scale_out", "node", "--exchange", url, "--port", str(port)]
            procs.append((f"node{i + 1}", await scale_out.spawn(argv, "ready")))
        urls = [f"ws://127.0.0.1:{port}/ws" for port in ports]
        load = argparse.Namespace(receivers=6, messages=messages, window=200, samples=5)
        await scale_out.measure(kind, urls, load)  # warm up
        before = {name: cpu_seconds(proc.pid) for name, proc in procs}
        own = own_cpu_seconds()
        result = await scale_out.measure(kind, urls, load)
        per = {name: (cpu_seconds(proc.pid) - before[name]) / messages * 1e6 for name, proc in procs}
        per["client"] = (own_cpu_seconds() - own) / messages * 1e6
        per["msgs_per_s"] = result["msgs_per_s"]
        return per
    finally:
        for _, proc in reversed(procs):
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()


async def main(args: argparse.Namespace) -> None:
    tick = 1e6 / TICKS / args.messages
    print(f"CPU microseconds per broadcast ({args.messages} broadcasts; resolution {tick:.1f} us)")
    for kind in args.kinds:
        per = await run(kind, args.messages)
        rate = per.pop("msgs_per_s")
        parts = ", ".join(f"{name} {value:.1f}" for name, value in per.items())
        print(f"{kind:6} {rate:7.0f} broadcasts/s  {parts}  total {sum(per.values()):.1f}", flush=True)


def cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kinds", nargs="+", default=["single", "redis", "nats"])
    parser.add_argument("--messages", type=int, default=6000)
    asyncio.run(main(parser.parse_args(argv)))


if __name__ == "__main__":
    cli()
