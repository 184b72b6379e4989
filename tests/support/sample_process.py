"""Start a sample as a user does (``python -m samples.<name> --port N``) and wait until it serves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import attrs
import pytest

from support.tools import REPO_ROOT, free_port

READY_MARK = "open http://"
"""What `samples.common.run` prints once the sample is listening."""
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
PORT_TRIES = 5
"""Launches on a new free port when the one picked was taken before the sample listened on it."""


class PortTakenError(RuntimeError):
    """The sample could not listen: its port was taken between `free_port` and its start."""


@attrs.define(eq=False)
class SampleProcess:
    """A running sample: its port, URLs and everything it printed (stdout and stderr merged)."""

    name: str
    port: int
    process: asyncio.subprocess.Process
    lines: list[str] = attrs.Factory(list)
    _reader: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The page's address, as the sample prints it."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def ws_url(self) -> str:
        """The websocket endpoint every sample mounts at ``/ws``."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def output(self) -> str:
        """Everything printed so far."""
        return "\n".join(self.lines)

    @classmethod
    async def launch(cls, name: str, *args: str, port: int | None = None) -> SampleProcess:
        """Run ``python -m samples.<name> --port <port> *args`` and return once a GET ``/`` succeeds.

        Without *port*, on a free one; when that was taken before the sample listened (`free_port`
        only says it was free: any connection made on the machine meanwhile may get it as its
        local port, as under load it does), again on another, up to `PORT_TRIES` times.
        """
        for tries_left in reversed(range(PORT_TRIES)):
            try:
                return await cls._launch(name, args, port or free_port())
            except PortTakenError:
                if port is not None or not tries_left:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    async def _launch(cls, name: str, args: tuple[str, ...], port: int) -> SampleProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            f"samples.{name}",
            "--port",
            str(port),
            *args,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        sample = cls(name, port, process)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await sample._wait_ready()
        except BaseException:
            await sample.stop()
            raise
        return sample

    async def _wait_ready(self) -> None:
        assert self.process.stdout is not None
        while True:
            raw = await self.process.stdout.readline()
            if not raw:
                code = await self.process.wait()
                failure = f"samples.{self.name} exited with {code} before serving:\n{self.output}"
                if f":{self.port}: address already in use" in self.output:
                    raise PortTakenError(failure)
                raise RuntimeError(failure)
            self.lines.append(raw.decode(errors="replace").rstrip())
            if READY_MARK in self.lines[-1]:
                break
        self._reader = asyncio.get_running_loop().create_task(self._keep_reading())
        async with aiohttp.ClientSession() as session, session.get(self.url) as response:
            if response.status != 200:
                raise RuntimeError(f"GET {self.url} answered {response.status}:\n{self.output}")

    async def _keep_reading(self) -> None:
        assert self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            self.lines.append(raw.decode(errors="replace").rstrip())

    async def stop(self) -> int:
        """Stop it as Ctrl+C would (SIGINT), kill it if it hangs; give its exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        code = self.process.returncode
        assert code is not None
        return code


@contextlib.asynccontextmanager
async def running_sample(name: str, *args: str, port: int | None = None) -> AsyncIterator[SampleProcess]:
    """Run sample *name* for the duration of the block; stop it afterwards."""
    sample = await SampleProcess.launch(name, *args, port=port)
    try:
        yield sample
    finally:
        await sample.stop()


StartSample = Callable[..., Awaitable[SampleProcess]]


@pytest.fixture
async def start_sample() -> AsyncIterator[StartSample]:
    """Give ``await start_sample(name, *args, port=None)``; every sample started is stopped at teardown.

    Import it into a ``conftest.py`` to use it.
    """
    started: list[SampleProcess] = []

    async def start(name: str, *args: str, port: int | None = None) -> SampleProcess:
        sample = await SampleProcess.launch(name, *args, port=port)
        started.append(sample)
        return sample

    yield start
    for sample in started:
        await sample.stop()


StartModule = Callable[..., Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def start_module() -> AsyncIterator[StartModule]:
    """Give ``await start_module("samples.x.client", *args)``: ``python -m`` it with piped stdin,
    stdout and stderr (``merge_stderr=True`` folds stderr into stdout); killed at teardown if
    it is still running, so a failed test leaks no process. Import it into a ``conftest.py``.
    """
    started: list[asyncio.subprocess.Process] = []

    async def start(module: str, *args: str, merge_stderr: bool = False) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
        if process.returncode is None:
            process.kill()
        await process.wait()
