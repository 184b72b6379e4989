"""Real processes for the scale-out suite: redis-server, nats-server and sample nodes.

Every process writes its output into an `Output`, which a test waits on for an exact
line (a readiness signal), never for a while. Brokers can be killed and started again
on the same port; nodes are real ``python -m samples.scale_out`` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import re
import signal
import sys
from collections.abc import Sequence

from support.tools import REPO_ROOT, free_port, require_binary

START_TIMEOUT = 30.0
"""Seconds a process may take to say it is ready (a loaded 2-core machine starts Python slowly)."""
PR_SET_PDEATHSIG = 1
WAIT_TIMEOUT = 20.0
"""Seconds any other wait of this suite may take before the test fails."""


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the test process dies, so no broker or node outlives it."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Output:
    """The lines a process printed, kept whole, with waits for a line matching a pattern."""

    def __init__(self, name: str, stream: asyncio.StreamReader) -> None:
        self.name = name
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self._ended = False
        self._task = asyncio.get_running_loop().create_task(self._pump(stream))

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while True:
            raw = await stream.readline()
            if not raw:
                break
            async with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self._changed.notify_all()
        async with self._changed:
            self._ended = True
            self._changed.notify_all()

    def mark(self) -> int:
        """Give the position after the last line so far (wait for lines printed after it)."""
        return len(self.lines)

    async def wait_for(self, pattern: str, *, after: int = 0, timeout: float = WAIT_TIMEOUT) -> re.Match[str]:
        """Wait for a line at or after *after* that matches regular expression *pattern*."""
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def seen() -> bool:
            for line in self.lines[after:]:
                match = regex.search(line)
                if match is not None:
                    found.append(match)
                    return True
            return self._ended

        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(seen)
        except TimeoutError:
            text = f"{self.name}: no line matching {pattern!r} in {timeout}s\n{self.tail()}"
            raise AssertionError(text) from None
        if not found:
            raise AssertionError(f"{self.name} ended without a line matching {pattern!r}\n{self.tail()}")
        return found[0]

    def tail(self, count: int = 30) -> str:
        """Give the last lines, for failure messages."""
        return "\n".join(f"  {self.name}| {line}" for line in self.lines[-count:])

    async def aclose(self) -> None:
        """Stop reading."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Process:
    """One child process with its merged stdout and stderr in `output`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.output: Output | None = None

    async def spawn(
        self, argv: Sequence[str], ready: str, *, env: dict[str, str] | None = None
    ) -> re.Match[str]:
        """Start *argv* and wait for a line matching *ready*."""
        if self.output is not None:
            await self.output.aclose()
        self.proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=REPO_ROOT,
            env=env,
            preexec_fn=_die_with_parent,
        )
        assert self.proc.stdout is not None
        self.output = Output(self.name, self.proc.stdout)
        return await self.output.wait_for(ready, timeout=START_TIMEOUT)

    @property
    def out(self) -> Output:
        """Give the output of the running (or last) process."""
        assert self.output is not None, f"{self.name} was never started"
        return self.output

    async def kill(self) -> None:
        """Kill the process at once (SIGKILL), as a crash would."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def stop(self) -> None:
        """Ask the process to stop (SIGTERM); kill it if it does not within the timeout."""
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(WAIT_TIMEOUT):
                await self.proc.wait()
        except TimeoutError:
            await self.kill()


class Broker(Process):
    """A real redis-server or nats-server on a fixed free port, restartable on that port."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
        if kind == "redis":
            self.binary = require_binary("redis-server", "apt-get install redis-server")
        else:
            self.binary = require_binary("nats-server", "apt-get install nats-server")
        self.port = free_port()
        self.monitor_port = free_port()

    @property
    def url(self) -> str:
        """Give the broker's URL (``redis://`` or ``nats://``)."""
        return f"{self.kind}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.kind == "redis":
            argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            argv += ["--appendonly", "no", "--loglevel", "notice"]
            await self.spawn(argv, r"Ready to accept connections")
        else:
            argv = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port)]
            await self.spawn(argv, r"Server is ready")


class Node(Process):
    """One ``python -m samples.scale_out`` node on a free port."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.port = free_port()
        self.node_id = ""

    @property
    def ws_url(self) -> str:
        """Give the node's websocket URL."""
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self, exchange: str) -> None:
        """Start the node on *exchange* and wait until it listens."""
        argv = [sys.executable, "-m", "samples.scale_out", "--port", str(self.port), "--exchange", exchange]
        argv += ["--reconnect-max", "0.5", "--beat", "1"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        match = await self.spawn(argv, r"node (\w+) listening on", env=env)
        self.node_id = match.group(1)


class Gate:
    """A TCP relay on a free port to a broker, which a test can cut and open again.

    A node whose exchange URL points at the gate loses its broker link when the gate is
    cut, and cannot reconnect until it is opened again: one node of a cluster reconnecting
    while the others carry on (a fault injected from outside the node).
    """

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.port = free_port()
        self.is_open = True
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """Give the broker's URL through the gate."""
        return f"{self.broker.kind}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on the gate's port."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.broker.port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()
            self._writers.discard(sink)

    def cut(self) -> None:
        """Break every connection through the gate and refuse new ones until `open`."""
        self.is_open = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def open(self) -> None:
        """Let connections through again."""
        self.is_open = True

    async def stop(self) -> None:
        """Stop listening and break what is left."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
