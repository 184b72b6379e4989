"""Running the Node load generator (`bench/load.mjs`) and summarising its rounds.

Shared by `bench.scale` (the concurrency matrix) and `bench.fifty_k` (50,000 connections).
The load generator runs on core 1 and the server (`bench.hot_path.running`) on core 0 when
there are two cores and ``taskset``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from bench.hot_path import PINNED
from bench.servers import raise_open_files

SCRIPT = Path(__file__).with_name("load.mjs")
REPO = SCRIPT.parent.parent


def node_command(settings: dict[str, Any]) -> list[str]:
    """Give the command that runs the load generator with *settings* (pinned to core 1)."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is needed for the load generator (apt-get install nodejs; npm ci)")
    if not (REPO / "node_modules" / "ws").is_dir():
        raise SystemExit("node_modules/ws is missing: run `npm ci` (or ./.ci/setup test)")
    command = [node, "--max-old-space-size=8192", str(SCRIPT), json.dumps(settings)]
    return ["taskset", "-c", "1", *command] if PINNED else command


async def load(settings: dict[str, Any], *, timeout: float = 600) -> dict[str, Any]:
    """Run the load generator once with *settings*; give its result."""
    proc = await asyncio.create_subprocess_exec(
        *node_command(settings), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}): {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


PORTS_PER_SOURCE = 2000
"""Connections opened from one loopback source address. The kernel looks for a free port of
an address bound with port 0 (what the load generator's ``localAddress`` does) by scanning:
with 15,000 ports taken on one address, connecting ran 7 times slower (364/s against 2,352/s
from 8 addresses), for raw aiohttp as for aioneffos."""


def sources(connections: int) -> int:
    """Give how many loopback source addresses *connections* are opened from."""
    return -(-connections // PORTS_PER_SOURCE)


def prepare() -> int:
    """Raise the open-file limit (inherited by the load generator); give it."""
    return raise_open_files()


def med(values: Sequence[float]) -> float:
    """Give the median of *values*."""
    return statistics.median(values)


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """Give ``median (min-max)`` of *values*, or the median alone for a single value."""
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(med(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    ticks: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        ticks[int(entry)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return ticks


async def machine_load(seconds: float = 1.0) -> str:
    """Say what else runs on the machine: load averages and the busiest processes over *seconds*."""
    one, five, _ = os.getloadavg()
    before = _cpu_ticks()
    await asyncio.sleep(seconds)
    after = _cpu_ticks()
    hertz = os.sysconf("SC_CLK_TCK")
    busy = sorted(
        ((ticks - before[pid][1]) / hertz / seconds * 100, name)
        for pid, (name, ticks) in after.items()
        if pid in before and pid != os.getpid()
    )[::-1]
    shown = [f"{name} {percent:.0f}%" for percent, name in busy[:4] if percent >= 5]
    others = ", ".join(shown) if shown else "no process above 5% of a core"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min); busiest over {seconds:g} s: {others}"


def run_report(main: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> None:
    """Run a load benchmark's *main* on core 1 (when pinned) and write the report it gives
    where its ``--json`` and ``--markdown`` arguments say."""
    if PINNED:
        os.sched_setaffinity(0, {1})
    result = asyncio.run(main())
    if result["args"]["json"]:
        Path(result["args"]["json"]).write_text(json.dumps(result, indent=2))
    if result["args"]["markdown"]:
        Path(result["args"]["markdown"]).write_text(result["markdown"] + "\n")
