"""Attacks on an exposed server, as a hostile page or a cheap client would make them.

Each attack runs against a fresh server process (``python -m bench.attacks serve``, default
options unless ``--options`` gives some) and reports what the attacker got back and what it
cost the server: resident memory growth (the peak while the attack lasts, and what stays
pinned), connections still counted, how long a SIGTERM takes to end the process. The script
only uses what every version of aioneffos has, so the same run works before and after a change.

Run: ``python -m bench.attacks [--only name,...] [--options '{"close_timeout": 2}']``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from aioneffos.framework import Conn, Message, NSConn, Server, WriteClosedError, get_request, handler, setup

MIB = 1 << 20
SMALL_BUFFER = 4096
"""Socket buffer of a peer on a congested link (and of the server's socket to it)."""

# -- the server under attack ----------------------------------------------------------------


def _small_send_buffer(conn: Conn) -> None:
    # A peer behind a slow link: the kernel holds little for it, so what it does not read
    # stays in the server's memory (what happens anyway, later, with bigger kernel buffers).
    if "X-Small-Buffers" in get_request(conn).headers:
        transport = get_request(conn).transport
        assert transport is not None
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


async def ask_back(ns: NSConn, msg: Message) -> str:
    """Ask the caller a question and wait for its answer (a handler awaiting its own ask)."""
    try:
        return (await ns.ask("question", timeout=60)).text
    except Exception as exc:
        return f"ask failed: {type(exc).__name__}: {exc}"


async def sleep(ns: NSConn, msg: Message) -> None:
    await asyncio.sleep(float(msg.text or "120"))


async def fill(ns: NSConn, msg: Message) -> None:
    """Emit N frames of 64 KiB to the caller."""
    body = b"x" * (64 * 1024)
    with contextlib.suppress(WriteClosedError):  # closed as a slow consumer meanwhile
        for _ in range(int(msg.text)):
            ns.emit("filler", body)


async def kick(ns: NSConn, msg: Message) -> None:
    """Close the caller's connection (1000), as an application closes a connection."""
    ns.conn.fire_and_forget(lambda: ns.conn.close(1000, "bye"))


async def whoami(ns: NSConn, msg: Message) -> dict[str, Any]:
    headers = get_request(ns.conn).headers
    names = ("Origin", "Host", "Cookie", "Authorization", "X-Forwarded-For")
    return {name: headers.get(name) for name in names}


def serve(port: int, options: dict[str, Any]) -> None:
    server = Server(
        {
            "default": {
                "echo": echo,
                "ask_back": ask_back,
                "sleep": sleep,
                "fill": fill,
                "kick": kick,
                "whoami": whoami,
            }
        },
        on_connect=_small_send_buffer,
        **options,
    )

    async def stats(_: web.Request) -> web.Response:
        rooms = sum(len(ns.rooms) for conn in server.connections for ns in conn.namespaces.values())
        return web.json_response(
            {
                "connections": server.total_connections,
                "rooms": rooms,
                "fds": len(os.listdir("/proc/self/fd")),
            }
        )

    app = web.Application()
    app.router.add_get("/ws", handler(server))
    app.router.add_get("/stats", stats)
    setup(app, server)
    web.run_app(app, host="127.0.0.1", port=port, print=lambda _: print("ready", flush=True), access_log=None)


# -- the attacker's side --------------------------------------------------------------------


def rss(pid: int) -> int:
    """Give the resident memory of process *pid* in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Target:
    """A server process under attack, with a peak-memory sampler."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.base = 0
        self.peak = 0
        self._sampler: asyncio.Task[None] | None = None

    def rss(self) -> int:
        return rss(self.process.pid)

    def start_sampling(self) -> None:
        self.base = self.peak = self.rss()

        async def sample() -> None:
            while True:
                with contextlib.suppress(OSError, RuntimeError):
                    self.peak = max(self.peak, self.rss())
                await asyncio.sleep(0.02)

        self._sampler = asyncio.get_running_loop().create_task(sample())

    def growth(self) -> str:
        """Peak and current growth over the baseline, in MiB."""
        now = self.rss()
        self.peak = max(self.peak, now)
        return f"peak +{(self.peak - self.base) / MIB:.1f} MiB, pinned +{(now - self.base) / MIB:.1f} MiB"

    async def stats(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/stats") as r,
        ):
            data: dict[str, Any] = await r.json()
            return data

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def target(options: dict[str, Any]) -> AsyncIterator[Target]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.attacks",
        "serve",
        "--port",
        str(port),
        "--options",
        json.dumps(options),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    await asyncio.wait_for(process.stdout.readline(), 20)
    served = Target(process, port)
    try:
        # Warm up: one client, one ask, so the baseline includes what every server has.
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(served.url)
            await handshake(ws)
            await ws.send_str("$w;default;;_OnNamespaceConnect;0;0;")
            await ws.receive()
            await ws.send_str("$e;default;;echo;0;0;warm")
            await ws.receive()
            await ws.close()
        await asyncio.sleep(0.3)
        served.start_sampling()
        yield served
    finally:
        await served.stop()


async def handshake(ws: aiohttp.ClientWebSocketResponse) -> str:
    await ws.send_str("M")
    raw = await ws.receive()
    return str(raw.data)


def small_session() -> aiohttp.ClientSession:
    """A session whose sockets have a tiny receive buffer: a peer that soon stops taking data."""

    def factory(addr_info: Any) -> socket.socket:
        family, kind, proto, _, _ = addr_info
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        return sock

    connector = aiohttp.TCPConnector(socket_factory=factory, force_close=True)
    return aiohttp.ClientSession(connector=connector, read_bufsize=SMALL_BUFFER)


async def close_seen(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10.0) -> str:
    """Read until the socket ends; give the close code and reason the server sent."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                raw = await ws.receive()
                if raw.type is WSMsgType.CLOSE:
                    return f"closed {raw.data} {raw.extra!r}"
                if raw.type in (WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
                    return f"socket ended ({ws.close_code})"
    except TimeoutError:
        return f"still open after {timeout:g}s"


async def connections_gone(served: Target, limit: float) -> str:
    """Poll the server until it counts no connection; say how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        stats = await served.stats()
        if stats["connections"] == 0:
            return f"torn down after {time.monotonic() - started:.1f}s (fds {stats['fds']})"
        await asyncio.sleep(0.2)
    stats = await served.stats()
    return f"still counted after {limit:g}s: {stats}"


async def sigterm_exit(served: Target, limit: float) -> str:
    started = time.monotonic()
    served.process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(served.process.wait(), limit)
    except TimeoutError:
        return f"did not exit within {limit:g}s (killed)"
    return f"exited after {time.monotonic() - started:.1f}s"


# -- the attacks ----------------------------------------------------------------------------

Attack = Callable[[dict[str, Any]], Awaitable[str]]
ATTACKS: dict[str, Attack] = {}


def attack(name: str) -> Callable[[Attack], Attack]:
    def register(fn: Attack) -> Attack:
        ATTACKS[name] = fn
        return fn

    return register


@attack("cross_origin")
async def cross_origin(options: dict[str, Any]) -> str:
    """A page on another site opens a session from a visitor's browser (Origin: that site)."""
    async with target(options) as served, aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(served.url, headers={"Origin": "https://evil.example"})
        except aiohttp.WSServerHandshakeError as exc:
            return f"upgrade refused: {exc.status}"
        await handshake(ws)
        await ws.close()
        return "upgraded (101) and acknowledged"


@attack("forged_headers")
async def forged_headers(options: dict[str, Any]) -> str:
    """Query parameters pretend to be the Origin, Host, Cookie, Authorization, X-Forwarded-For."""
    forged = {
        "Origin": "https://evil.example",
        "Host": "evil.example",
        "Cookie": "session=forged",
        "Authorization": "Bearer forged",
        "X-Forwarded-For": "6.6.6.6",
    }
    query = "&".join(f"X-Websocket-Header-{name}={value}" for name, value in forged.items())
    async with target(options) as served, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{served.url}?{query}", headers={"Cookie": "session=real"})
        await handshake(ws)
        await ws.send_str("$c;default;;_OnNamespaceConnect;0;0;")
        await ws.receive()
        await ws.send_str("$w;default;;whoami;0;0;")
        raw = await ws.receive()
        await ws.close()
        return f"get_request(conn).headers shows {str(raw.data).split(';', 6)[6]}"


@attack("http_get")
async def http_get(options: dict[str, Any]) -> str:
    """A browser tab opens the websocket URL."""
    async with (
        target(options) as served,
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{served.port}/ws") as response,
    ):
        return f"{response.status}: {(await response.text())[:120]!r}"


@attack("unread_replies")
async def unread_replies(options: dict[str, Any]) -> str:
    """300 asks of 1 MiB whose replies the client never reads."""
    async with target(options) as served, small_session() as session:
        ws = await session.ws_connect(served.url, headers={"X-Small-Buffers": "1"})
        await handshake(ws)
        await ws.send_str("$c;default;;_OnNamespaceConnect;0;0;")
        head = "$a;default;;echo;0;0;"
        frame = head + "x" * (MIB - len(head))
        sent = 0
        with contextlib.suppress(ConnectionError, RuntimeError):
            for _ in range(300):
                await ws.send_str(frame)
                sent += 1
        await asyncio.sleep(2.0)
        memory = served.growth()
        counted = (await served.stats())["connections"]
        return f"sent {sent} asks; {memory}; server counts {counted} connection(s); {await close_seen(ws)}"


@attack("flood_during_own_ask")
async def flood_during_own_ask(options: dict[str, Any]) -> str:
    """The server's handler asks the client; the client floods 300 x 1 MiB instead of answering."""
    async with target(options) as served, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(served.url, max_msg_size=0)
        await handshake(ws)
        await ws.send_str("$c;default;;_OnNamespaceConnect;0;0;")
        await ws.receive()
        await ws.send_str("$b;default;;ask_back;0;0;")
        question = await ws.receive()
        assert "question" in str(question.data), question
        head = ";default;;noop;0;0;"
        frame = head + "x" * (MIB - len(head))
        sent = 0
        started = time.monotonic()
        with contextlib.suppress(ConnectionError, RuntimeError):
            for _ in range(300):
                await ws.send_str(frame)
                sent += 1
        took = time.monotonic() - started
        try:
            answer = await asyncio.wait_for(ws.receive(), 2.0)
            told = f"ask_back answered {str(answer.data)[:100]!r}"
        except TimeoutError:
            told = "ask_back not answered within 2s"
        memory = served.growth()
        return f"sent {sent} frames in {took:.1f}s; {memory}; {told}"


@attack("frames_before_m")
async def frames_before_m(options: dict[str, Any]) -> str:
    """24 connections each send 16 frames of 1 MiB and never the handshake."""
    async with target(options) as served, aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(served.url) for _ in range(24)]
        frame = "x" * (MIB - 64)
        refused = 0
        for ws in sockets:
            try:
                for _ in range(16):
                    await ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                refused += 1
        await asyncio.sleep(1.5)
        memory = served.growth()
        ends = await asyncio.gather(*(close_seen(ws, 1.0) for ws in sockets))
        summary = {end: ends.count(end) for end in ends}
        return f"{memory}; {summary}"


@attack("room_joins")
async def room_joins(options: dict[str, Any]) -> str:
    """One connection joins 20,000 rooms whose names are 4 KiB long."""
    async with target(options) as served, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(served.url)
        await handshake(ws)
        await ws.send_str("$c;default;;_OnNamespaceConnect;0;0;")
        await ws.receive()
        answers: dict[str, int] = {}

        async def read() -> None:
            for _ in range(20_000):
                raw = await ws.receive()
                fields = str(raw.data).split(";", 6)
                key = "joined" if raw.data.endswith(";;;;;;") else f"error {fields[6][:60]!r}"
                answers[key] = answers.get(key, 0) + 1

        reader = asyncio.get_running_loop().create_task(read())
        pad = "r" * 4096
        for i in range(20_000):
            await ws.send_str(f"$j{i};default;{i}{pad};_OnRoomJoin;0;0;")
        await asyncio.wait_for(reader, 60)
        memory = served.growth()
        rooms = (await served.stats())["rooms"]
        await ws.close()
        return f"{answers}; server holds {rooms} rooms; {memory}"


async def _stuck_reader(served: Target, session: aiohttp.ClientSession, frames: int) -> Any:
    ws = await session.ws_connect(served.url, headers={"X-Small-Buffers": "1"})
    await handshake(ws)
    await ws.send_str("$c;default;;_OnNamespaceConnect;0;0;")
    await ws.send_str(f";default;;fill;0;0;{frames}")
    await asyncio.sleep(0.5)
    return ws


@attack("stuck_reader_teardown")
async def stuck_reader_teardown(options: dict[str, Any]) -> str:
    """The server closes a client that stopped reading (1 MiB waits for it): is it torn down?"""
    async with target(options) as served, small_session() as session:
        ws = await _stuck_reader(served, session, 16)
        await ws.send_str(";default;;kick;0;0;")
        gone = await connections_gone(served, 30.0)
        await ws.close()
        return gone


@attack("slow_consumer")
async def slow_consumer(options: dict[str, Any]) -> str:
    """A client that stopped reading is sent 2,000 frames of 64 KiB (125 MiB)."""
    async with target(options) as served, small_session() as session:
        ws = await _stuck_reader(served, session, 2000)
        gone = await connections_gone(served, 30.0)
        memory = served.growth()
        await ws.close()
        return f"{gone}; {memory}"


@attack("sigterm_stuck_reader")
async def sigterm_stuck_reader(options: dict[str, Any]) -> str:
    """SIGTERM while one client has stopped reading (1 MiB waits for it, under every limit)."""
    async with target(options) as served, small_session() as session:
        ws = await _stuck_reader(served, session, 16)
        exit_after = await sigterm_exit(served, 40.0)
        await ws.close()
        return exit_after


@attack("sigterm_sleeping_handler")
async def sigterm_sleeping_handler(options: dict[str, Any]) -> str:
    """SIGTERM while a handler is in asyncio.sleep(120)."""
    async with target(options) as served, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(served.url)
        await handshake(ws)
        await ws.send_str("$c;default;;_OnNamespaceConnect;0;0;")
        await ws.receive()
        await ws.send_str(";default;;sleep;0;0;120")
        await asyncio.sleep(0.3)
        exit_after = await sigterm_exit(served, 40.0)
        seen = await close_seen(ws, 1.0)
        return f"{exit_after}; client saw {seen}"


@attack("vanishing_sleepers")
async def vanishing_sleepers(options: dict[str, Any]) -> str:
    """100 clients start a 20 s handler and vanish: how long do they stay counted?"""
    async with target(options) as served:
        session = aiohttp.ClientSession()
        for _ in range(100):
            ws = await session.ws_connect(served.url)
            await handshake(ws)
            await ws.send_str("$c;default;;_OnNamespaceConnect;0;0;")
            await ws.receive()
            await ws.send_str(";default;;sleep;0;0;20")
        await asyncio.sleep(0.3)
        await session.close()  # every socket ends at once
        return await connections_gone(served, 30.0)


@attack("message_flood")
async def message_flood(options: dict[str, Any]) -> str:
    """One client sends 20,000 small asks as fast as it can."""
    async with target(options) as served, aiohttp.ClientSession() as session:
        ws = await session.ws_connect(served.url)
        await handshake(ws)
        await ws.send_str("$c;default;;_OnNamespaceConnect;0;0;")
        await ws.receive()
        answers: dict[str, int] = {}

        async def read() -> None:
            while True:
                raw = await ws.receive()
                if raw.type is not WSMsgType.TEXT:
                    answers[f"closed {raw.data} {raw.extra!r}"] = 1
                    return
                key = "answered" if ";echo;0;0;" in raw.data else f"error {raw.data.split(';', 6)[6]!r}"
                answers[key] = answers.get(key, 0) + 1

        reader = asyncio.get_running_loop().create_task(read())
        started = time.monotonic()
        with contextlib.suppress(ConnectionError, RuntimeError):
            for i in range(20_000):
                await ws.send_str(f"$f{i};default;;echo;0;0;x")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), 3)
        reader.cancel()
        return f"{answers} in {time.monotonic() - started:.1f}s"


async def run(names: list[str], options: dict[str, Any]) -> None:
    for name in names:
        started = time.monotonic()
        try:
            result = await ATTACKS[name](options)
        except Exception as exc:
            result = f"attack failed: {type(exc).__name__}: {exc}"
        print(f"{name:>26}: {result}  [{time.monotonic() - started:.0f}s]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="attack", choices=["attack", "serve"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--only", default=",".join(ATTACKS), help="comma-separated attack names")
    parser.add_argument("--options", default="{}", help="Server options as JSON")
    args = parser.parse_args()
    options = json.loads(args.options)
    if args.mode == "serve":
        serve(args.port, options)
    else:
        asyncio.run(run(args.only.split(","), options))


if __name__ == "__main__":
    main()
