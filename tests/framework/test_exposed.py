"""Attacks on a whole server process with default options: its resident memory stays within a
stated budget, the attacker gets its exact answer, a bystander is served; SIGTERM ends it.

Each test starts ``tests/framework/exposed_app.py`` (``web.run_app``, as deployed) and reads
its resident memory from ``/proc``: the growth over the idle process is asserted as a bound.
Before these budgets existed the same attacks pinned 300 to 390 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest

from support.peers import RawPeer
from support.tools import REPO_ROOT, free_port
from support.waiting import TIMEOUT

MIB = 1 << 20

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from /proc")


def rss(pid: int) -> int:
    """Give the resident memory of process *pid* in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


@attrs.define
class Exposed:
    """The server process, with the peak of its memory growth while `sampling`."""

    process: asyncio.subprocess.Process
    port: int
    base: int = 0
    peak: int = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def stats(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(f"http://127.0.0.1:{self.port}/stats") as response:
            data: dict[str, Any] = await response.json()
            return data

    @contextlib.asynccontextmanager
    async def sampling(self) -> AsyncIterator[None]:
        """Record the peak resident memory while the block runs (sampled every 10 ms)."""
        self.base = self.peak = rss(self.process.pid)

        async def sample() -> None:
            while True:
                self.peak = max(self.peak, rss(self.process.pid))
                await asyncio.sleep(0.01)

        sampler = asyncio.get_running_loop().create_task(sample())
        try:
            yield
        finally:
            sampler.cancel()
            self.peak = max(self.peak, rss(self.process.pid))

    @property
    def growth(self) -> int:
        """Give the peak growth over the memory of the idle, warmed-up process."""
        return self.peak - self.base


StartExposed = Callable[..., Awaitable[Exposed]]


@pytest.fixture
async def exposed(session: aiohttp.ClientSession) -> AsyncIterator[StartExposed]:
    """Start the server process (``options`` as keywords); it is killed at teardown."""
    started: list[Exposed] = []

    async def start(**options: Any) -> Exposed:
        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.framework.exposed_app",
            "--port",
            str(port),
            "--options",
            json.dumps(options),
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        served = Exposed(process, port)
        started.append(served)
        assert process.stdout is not None
        async with asyncio.timeout(20):
            assert await process.stdout.readline() == b"ready\n"
        # Warm up: what every served connection allocates is in the baseline.
        peer = await connected(session, served.url)
        assert await peer.ask("default", "echo", "warm") == "$raw2;default;;echo;0;0;warm"
        await peer.close()
        return served

    yield start
    for served in started:
        if served.process.returncode is None:
            served.process.kill()
            await served.process.wait()


async def connected(session: aiohttp.ClientSession, url: str, **headers: str) -> RawPeer:
    peer = RawPeer(await session.ws_connect(url, headers=headers, max_msg_size=0))
    await peer.handshake()
    await peer.connect("default")
    return peer


Connect = Callable[..., Awaitable[RawPeer]]


@pytest.fixture
async def connect(exposed: StartExposed, session: aiohttp.ClientSession) -> AsyncIterator[Connect]:
    """`connected`, on *session* unless another is given; every peer is closed at teardown."""
    peers: list[RawPeer] = []

    async def open_peer(url: str, on: aiohttp.ClientSession | None = None, **headers: str) -> RawPeer:
        peer = await connected(on or session, url, **headers)
        peers.append(peer)
        return peer

    yield open_peer
    for peer in peers:
        await peer.close()


async def assert_served(peer: RawPeer) -> None:
    assert await peer.ask("default", "echo", "ok") == f"{peer.token_last()};default;;echo;0;0;ok"


async def until_connections(served: Exposed, session: aiohttp.ClientSession, count: int) -> None:
    async with asyncio.timeout(TIMEOUT):
        while (await served.stats(session))["connections"] != count:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.05)


def big(head: str) -> str:
    """A frame of exactly 1 MiB (the default `max_message_size`) starting with *head*."""
    return head + "x" * (MIB - len(head))


async def test_300_unread_replies_of_1_mib_close_1008_within_budget(
    exposed: StartExposed,
    connect: Connect,
    session: aiohttp.ClientSession,
    tiny_session: aiohttp.ClientSession,
) -> None:
    served = await exposed()
    other = await connect(served.url)
    attacker = await connect(served.url, tiny_session, **{"X-Stuck": "1"})
    sent = 0
    async with served.sampling():
        with contextlib.suppress(ConnectionError):
            for _ in range(300):
                await attacker.send(big("$a;default;;echo;0;0;"))
                sent += 1
        await until_connections(served, session, 1)  # the attacker is closed and torn down
    # 4 MiB of replies queue before the peer counts as a slow consumer; frames being read add a few.
    assert served.growth < 32 * MIB, f"+{served.growth / MIB:.1f} MiB after {sent} asks"
    await assert_served(other)


async def test_flood_while_the_server_awaits_its_own_ask_fails_the_ask_within_budget(
    exposed: StartExposed, connect: Connect, session: aiohttp.ClientSession
) -> None:
    served = await exposed()
    other = await connect(served.url)
    attacker = await connect(served.url)
    await attacker.send("$b;default;;ask_back;0;0;")
    question = await attacker.recv()
    assert isinstance(question, str)
    assert question.endswith(";default;;question;0;0;")
    async with served.sampling():
        for _ in range(300):
            await attacker.send(big(";default;;nothing;0;0;"))
        answer = await attacker.recv()
    assert isinstance(answer, str)
    assert answer.startswith("$b;default;;ask_back;1;0;gave up waiting for a reply from ")
    assert served.growth < 32 * MIB, f"+{served.growth / MIB:.1f} MiB"
    await assert_served(attacker)
    await assert_served(other)


async def test_24_peers_sending_16_frames_of_1_mib_before_m_close_1008_within_budget(
    exposed: StartExposed, connect: Connect, session: aiohttp.ClientSession
) -> None:
    served = await exposed()
    other = await connect(served.url)
    peers = [RawPeer(await session.ws_connect(served.url)) for _ in range(24)]
    async with served.sampling():
        for peer in peers:
            with contextlib.suppress(ConnectionError):
                for _ in range(16):
                    await peer.send(big(""))
        ends = [await peer.recv_close() for peer in peers]
    assert ends == [(1008, "expected the neffos handshake (M)")] * 24
    # Nothing of theirs is kept; each costs the one frame being read until it is closed.
    assert served.growth < 64 * MIB, f"+{served.growth / MIB:.1f} MiB"
    await assert_served(other)


async def test_20000_room_joins_are_refused_within_budget(
    exposed: StartExposed, connect: Connect, session: aiohttp.ClientSession
) -> None:
    served = await exposed()
    attacker = await connect(served.url)
    pad = "r" * 4096

    async def join_all(frames: list[str]) -> list[str | bytes]:
        # Reading meanwhile: a peer that does not read its answers is a slow consumer.
        async def read() -> list[str | bytes]:
            return [await attacker.recv() for _ in frames]

        answers = asyncio.ensure_future(read())
        for frame in frames:
            await attacker.send(frame)
        return await answers

    async with served.sampling():
        long_names = await join_all([f"$j{i};default;{i}{pad};_OnRoomJoin;0;0;" for i in range(20_000)])
        short_names = await join_all([f"$k{i};default;{i};_OnRoomJoin;0;0;" for i in range(20_000)])
    assert long_names[-1] == f"$j19999;default;{('19999' + pad)[:256]};_OnRoomJoin;1;0;name too long"
    assert all(answer.endswith(";1;0;name too long") for answer in long_names)  # type: ignore[union-attr]
    assert short_names[:256] == [f"$k{i};;;;;;" for i in range(256)]
    assert set(short_names[256:]) == {
        f"$k{i};default;{i};_OnRoomJoin;1;0;too many rooms" for i in range(256, 20_000)
    }
    assert (await served.stats(session))["rooms"] == 256
    assert served.growth < 16 * MIB, f"+{served.growth / MIB:.1f} MiB"
    await assert_served(attacker)


# -- SIGTERM ----------------------------------------------------------------------------------

CLOSE_TIMEOUT = 1.0
EXIT_MARGIN = 4.0
"""Seconds past `CLOSE_TIMEOUT` the process may take to exit (it used to hang for good)."""


async def sigterm_exit_code(served: Exposed) -> int:
    served.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(CLOSE_TIMEOUT + EXIT_MARGIN):
        return await served.process.wait()


async def test_sigterm_with_a_peer_that_stopped_reading_exits_within_close_timeout(
    exposed: StartExposed,
    connect: Connect,
    session: aiohttp.ClientSession,
    tiny_session: aiohttp.ClientSession,
) -> None:
    served = await exposed(close_timeout=CLOSE_TIMEOUT)
    other = await connect(served.url)
    stuck = await connect(served.url, tiny_session, **{"X-Stuck": "1"})
    await stuck.send(";default;;fill;0;0;16")  # 1 MiB it never reads: under every limit
    await assert_served(other)  # the fill was handled before this
    assert await sigterm_exit_code(served) == 0
    assert await other.recv_close() == (1001, "server shutdown")


async def test_sigterm_with_a_handler_in_sleep_120_exits_within_close_timeout(
    exposed: StartExposed, connect: Connect, session: aiohttp.ClientSession
) -> None:
    served = await exposed(close_timeout=CLOSE_TIMEOUT)
    sleeper = await connect(served.url)
    await sleeper.send(";default;;sleep;0;0;120")
    assert await sigterm_exit_code(served) == 0
    assert await sleeper.recv_close() == (1001, "server shutdown")
