"""What a new user types before and around the samples: ``make demo`` on a taken port, a sample
run with a Python that lacks the packages; and the suite's own start of a sample on a taken port."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from support import sample_process
from support.sample_process import StartSample
from support.tools import REPO_ROOT, free_port, require

TIMEOUT = 60.0  # `make demo` runs `.ci/setup demo` first (a no-op once set up)


async def run(*argv: str) -> tuple[int, str]:
    """Run *argv* in the repository as a user would (no terminal); give its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(TIMEOUT):
        out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_make_demo_on_a_taken_port_names_the_make_knob(start_sample: StartSample) -> None:
    make = shutil.which("make")
    require(None if make else "make not found (apt-get install make)")
    assert make is not None
    taken = await start_sample("basic")

    code, out = await run(make, "--no-print-directory", "demo", f"PORT={taken.port}")

    assert code != 0
    hint = f"try another port: PORT={taken.port + 1} make demo"
    assert f"cannot listen on 127.0.0.1:{taken.port}: address already in use ({hint})\n" in out
    assert "[setup] ready (demo)\n" in out
    assert "\x1b" not in out  # no colour escapes in a log


async def test_sample_without_the_packages_says_how_to_set_up() -> None:
    # The interpreter the venv was made from, without site-packages: a Python with no aiohttp.
    python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    require(None if os.access(python, os.X_OK) else f"{python} not found")

    code, out = await run(str(python), "-S", "-m", "samples.chat")

    assert code == 1
    assert out == (
        f"{python} has no module 'aiohttp': the samples run in the repository's .venv. "
        "Run `make demo` once (it sets up .venv, then starts the chat), "
        "then `.venv/bin/python -m samples.<name>`.\n"
    )


async def test_a_sample_whose_free_port_was_taken_meanwhile_starts_on_another(
    start_sample: StartSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `free_port` only says a port was free: a connection made on the machine before the sample
    # listens may get it as its local port (under load, it happens). The launch tries another.
    taken = await start_sample("basic")
    ports = iter([taken.port])
    monkeypatch.setattr(sample_process, "free_port", lambda: next(ports, None) or free_port())

    sample = await start_sample("basic")

    assert sample.port != taken.port
    assert next(ports, None) is None  # the taken port was tried first
