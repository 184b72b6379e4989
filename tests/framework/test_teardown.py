"""Every closed connection ends: peers that stop reading, server shutdown, running handlers.

A "stuck" peer here has a 4 KiB receive buffer and never reads, and the server's socket to
it a 4 KiB send buffer (set in ``on_connect``, a fault injected for the test): what the
server sends it then waits in the server's memory, as it would behind a congested link.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable

import aiohttp
import attrs
import pytest
from aiohttp import web

from aioneffos.framework import Conn, Message, NSConn, Server, WriteClosedError, dial, get_request
from aioneffos.framework.protocol import Frame
from support.peers import RawPeer
from support.serving import SMALL_BUFFER, AppServer, Dial, RawConnect, Serve
from support.waiting import TIMEOUT, Inbox, wait_for

CLOSE_TIMEOUT = 0.5


def open_fds() -> list[str]:
    """Give what this process's open file descriptors point at (``socket:[inode]`` for sockets)."""
    links = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
    return links


def socket_link(sock: socket.socket) -> str:
    """Name *sock* as ``/proc`` does, to find out later whether it is still open."""
    return os.readlink(f"/proc/self/fd/{sock.fileno()}")


async def until(condition: Callable[[], bool]) -> None:
    """Poll *condition* until it holds, failing after the suite's timeout."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():  # noqa: ASYNC110 - no event tells when a socket's fd closes
            await asyncio.sleep(0.05)


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


@attrs.define
class Watch:
    """What the server reports: connections accepted, ended (after teardown), forced leaves."""

    accepted: Inbox = attrs.Factory(Inbox)
    ended: Inbox = attrs.Factory(Inbox)
    left: Inbox = attrs.Factory(Inbox)
    filled: Inbox = attrs.Factory(Inbox)

    def server(self, **options: object) -> Server:
        def on_connect(conn: Conn) -> None:
            if "X-Stuck" in get_request(conn).headers:
                transport = get_request(conn).transport
                assert transport is not None
                transport.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER
                )
            self.accepted.put(conn)

        def fill(ns: NSConn, msg: Message) -> None:
            with contextlib.suppress(WriteClosedError):  # closed as a slow consumer on the way
                for _ in range(int(msg.text)):
                    ns.emit("filler", b"x" * 65536)
            self.filled.put(None)

        def left(ns: NSConn, msg: Message) -> None:
            self.left.put((ns.conn.id, msg.room, msg.is_forced))

        return Server(
            {"default": {"echo": echo, "fill": fill, "_OnRoomLeft": left}},
            on_connect=on_connect,
            on_disconnect=self.ended.put,
            close_timeout=CLOSE_TIMEOUT,
            **options,
        )


@attrs.define
class Stuck:
    """A peer that stopped reading: its raw end, its server `Conn`, the server's socket to it."""

    peer: RawPeer
    conn: Conn
    server_socket: str


async def stuck_peer(url: str, session: aiohttp.ClientSession, watch: Watch, frames: int = 16) -> Stuck:
    """Connect a peer that joins room "r", is sent *frames* x 64 KiB and reads none of it."""
    peer = RawPeer(await session.ws_connect(url, headers={"X-Stuck": "1"}))
    await peer.handshake()
    await peer.connect("default")
    await peer.join("default", "r")
    conn: Conn = await watch.accepted.get()
    transport = get_request(conn).transport
    assert transport is not None
    server_socket = socket_link(transport.get_extra_info("socket"))
    await peer.send(f";default;;fill;0;0;{frames}")
    await watch.filled.get()
    return Stuck(peer, conn, server_socket)


async def assert_all_ended(stuck: Stuck, baseline: list[str]) -> None:
    """The server's socket to *stuck* is closed; once the test's own end closes, so is every fd."""
    await until(lambda: stuck.server_socket not in open_fds())
    await stuck.peer.ws.close()
    await until(lambda: sorted(open_fds()) == sorted(baseline))


@pytest.fixture
async def watch() -> Watch:
    return Watch()


async def bystander(url: str, raw: RawConnect, watch: Watch) -> RawPeer:
    peer = await raw(url)
    await peer.connect("default")
    await watch.accepted.get()
    return peer


async def assert_still_served(peer: RawPeer) -> None:
    assert await peer.ask("default", "echo", "ok") == f"{peer.token_last()};default;;echo;0;0;ok"


async def test_close_of_a_peer_that_stopped_reading_cuts_it_and_tears_down(
    app_server: AppServer, raw: RawConnect, tiny_session: aiohttp.ClientSession, watch: Watch
) -> None:
    server = watch.server()
    url = await app_server.start(server)
    other = await bystander(url, raw, watch)
    baseline = open_fds()
    stuck = await stuck_peer(url, tiny_session, watch)

    await wait_for(stuck.conn.close())  # returns after close_timeout: the socket was cut
    assert await watch.ended.get() is stuck.conn  # teardown: on_disconnect ran
    assert await watch.left.get() == (stuck.conn.id, "r", True)  # the forced leave of its room
    assert (server.total_connections, len(server.namespace_connections("default"))) == (1, 1)
    await assert_all_ended(stuck, baseline)
    await assert_still_served(other)


async def test_slow_consumer_by_bytes_is_closed_and_torn_down(
    app_server: AppServer, raw: RawConnect, tiny_session: aiohttp.ClientSession, watch: Watch
) -> None:
    server = watch.server(outbound_queue_bytes=256 * 1024)
    url = await app_server.start(server)
    other = await bystander(url, raw, watch)
    baseline = open_fds()
    stuck = await stuck_peer(url, tiny_session, watch, frames=64)  # 4 MiB in 64 frames (1024 allowed)

    assert await watch.ended.get() is stuck.conn
    assert await watch.left.get() == (stuck.conn.id, "r", True)
    assert server.total_connections == 1
    await assert_all_ended(stuck, baseline)
    await assert_still_served(other)


async def test_peer_that_stops_reading_and_misses_pings_is_dropped_and_cut(
    app_server: AppServer, clients: Dial, tiny_session: aiohttp.ClientSession, watch: Watch
) -> None:
    server = watch.server(ping_interval=0.2)
    url = await app_server.start(server)
    other = await (await clients(url)).connect("default")  # its reader answers every ping
    await watch.accepted.get()
    baseline = open_fds()
    stuck = await stuck_peer(url, tiny_session, watch)  # never reads again, so never answers a ping

    assert await watch.ended.get() is stuck.conn
    assert server.total_connections == 1
    await assert_all_ended(stuck, baseline)
    assert (await other.ask("echo", "ok")).body == b"ok"


async def test_server_close_with_a_stuck_peer_returns_after_tearing_everything_down(
    app_server: AppServer, raw: RawConnect, tiny_session: aiohttp.ClientSession, watch: Watch
) -> None:
    server = watch.server()
    url = await app_server.start(server)
    other = await bystander(url, raw, watch)
    stuck = await stuck_peer(url, tiny_session, watch)

    await wait_for(server.close())
    ended = {await watch.ended.get(), await watch.ended.get()}
    assert stuck.conn in ended
    assert server.total_connections == 0
    assert await other.recv_close() == (1001, "server shutdown")


async def test_server_close_cancels_a_handler_still_running_after_close_timeout(
    app_server: AppServer, raw: RawConnect, watch: Watch
) -> None:
    outcome = Inbox()

    async def sleep(ns: NSConn, msg: Message) -> None:
        outcome.put("started")
        try:
            await asyncio.sleep(120)
        except asyncio.CancelledError:
            outcome.put("cancelled")
            raise

    server = Server({"default": {"sleep": sleep}}, on_disconnect=watch.ended.put, close_timeout=CLOSE_TIMEOUT)
    url = await app_server.start(server)
    peer = await raw(url)
    await peer.connect("default")
    await peer.send(";default;;sleep;0;0;")
    assert await outcome.get() == "started"

    await wait_for(server.close())
    assert (await outcome.get(), server.total_connections) == ("cancelled", 0)
    assert isinstance(await watch.ended.get(), Conn)  # its teardown ran before close returned
    assert await peer.recv_close() == (1001, "server shutdown")


async def test_upgrade_finishing_while_server_closes_is_closed_1001(
    app_server: AppServer, session: aiohttp.ClientSession
) -> None:
    entered, release = Inbox(), asyncio.Event()

    async def slow_id(request: web.Request) -> str:
        entered.put(None)
        await release.wait()
        return "late"

    server = Server({"default": {}}, id_generator=slow_id, close_timeout=0.5)
    url = await app_server.start(server)
    connecting = asyncio.ensure_future(session.ws_connect(url))
    await entered.get()
    closing = asyncio.ensure_future(server.close())
    await asyncio.sleep(0)  # close() has started: the server no longer accepts
    release.set()
    peer = RawPeer(await wait_for(connecting))
    assert await peer.recv_close() == (1001, "server shutdown")
    await wait_for(closing)


async def test_upgrades_racing_past_max_connections_are_closed_1013(
    app_server: AppServer, session: aiohttp.ClientSession
) -> None:
    entered, release = Inbox(), asyncio.Event()

    async def slow_id(request: web.Request) -> str:
        entered.put(None)
        await release.wait()
        return request.query["id"]

    server = Server({"default": {}}, id_generator=slow_id, max_connections=1)
    url = await app_server.start(server)
    first = asyncio.ensure_future(session.ws_connect(url + "?id=first"))
    second = asyncio.ensure_future(session.ws_connect(url + "?id=second"))
    await entered.get()
    await entered.get()  # both passed the 503 check: none was connected yet
    release.set()
    peers = [RawPeer(await wait_for(first)), RawPeer(await wait_for(second))]
    assert await peers[0].handshake() == "first"
    assert await peers[1].recv_close() == (1013, "too many connections")
    await until(lambda: server.total_connections == 1)


# -- running handlers -------------------------------------------------------------------------


@pytest.fixture
def sleeper() -> tuple[Inbox, Callable[[NSConn, Message], Awaitable[None]]]:
    """A handler that sleeps for its body's seconds, reporting start, cancellation and end."""
    outcome = Inbox()

    async def sleep(ns: NSConn, msg: Message) -> None:
        outcome.put("started")
        try:
            await asyncio.sleep(float(msg.text))
        except asyncio.CancelledError:
            outcome.put("cancelled")
            raise
        outcome.put("finished")

    return outcome, sleep


async def test_handler_timeout_answers_an_ask_and_an_emit_and_serving_goes_on(
    serve: Serve, raw: RawConnect, sleeper: tuple[Inbox, Callable[[NSConn, Message], Awaitable[None]]]
) -> None:
    outcome, sleep = sleeper
    url = await serve(Server({"default": {"sleep": sleep, "echo": echo}}, handler_timeout=0.2))
    peer = await raw(url)
    await peer.connect("default")
    assert await peer.ask("default", "sleep", "30") == "$raw2;default;;sleep;1;0;handler timed out"
    assert [await outcome.get(), await outcome.get()] == ["started", "cancelled"]
    await peer.send(";default;;sleep;0;0;30")
    assert await peer.recv() == ";default;;sleep;1;0;handler timed out"
    assert await peer.ask("default", "sleep", "0") == "$raw3;;;;;;"  # a quick one is not cut
    await assert_still_served(peer)


async def test_cancel_handlers_on_close_cancels_the_handler_of_a_vanished_peer(
    app_server: AppServer, sleeper: tuple[Inbox, Callable[[NSConn, Message], Awaitable[None]]]
) -> None:
    # A production-like server: aiohttp's test server cancels the handler on its own.
    outcome, sleep = sleeper
    ended = Inbox()
    server = Server({"default": {"sleep": sleep}}, on_disconnect=ended.put, cancel_handlers_on_close=True)
    url = await app_server.start(server)
    async with aiohttp.ClientSession() as vanishing:
        peer = RawPeer(await vanishing.ws_connect(url))
        await peer.handshake()
        await peer.connect("default")
        await peer.send(";default;;sleep;0;0;120")
        assert await outcome.get() == "started"
    # The session is closed: the socket ended under a handler that would sleep 120 s.
    assert await outcome.get() == "cancelled"
    await ended.get()
    assert server.total_connections == 0


async def test_without_cancel_handlers_on_close_the_handler_finishes_before_teardown(
    app_server: AppServer, sleeper: tuple[Inbox, Callable[[NSConn, Message], Awaitable[None]]]
) -> None:
    outcome, sleep = sleeper
    server = Server({"default": {"sleep": sleep}}, on_disconnect=lambda c: outcome.put("ended"))
    url = await app_server.start(server)
    async with aiohttp.ClientSession() as vanishing:
        peer = RawPeer(await vanishing.ws_connect(url))
        await peer.handshake()
        await peer.connect("default")
        await peer.send(";default;;sleep;0;0;0.5")
        assert await outcome.get() == "started"
    assert [await outcome.get(), await outcome.get()] == ["finished", "ended"]


# -- the client side ------------------------------------------------------------------------------


async def test_client_close_to_a_server_that_stopped_reading_cuts_the_socket(
    aiohttp_server: Callable[..., Awaitable[object]],
) -> None:
    stop = asyncio.Event()
    sockets: list[socket.socket] = []

    async def acks_then_never_reads(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        transport = request.transport
        assert transport is not None
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        await ws.receive()  # M
        await ws.send_str("Aid")
        request.protocol.pause_reading()
        await stop.wait()
        transport.abort()  # it never notices the client went: nothing reads
        return ws

    def small_send_buffer(addr_info: tuple[int, int, int, str, tuple[str, int]]) -> socket.socket:
        family, kind, proto, _, _ = addr_info
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        sockets.append(sock)
        return sock

    app = web.Application()
    app.router.add_get("/ws", acks_then_never_reads)
    test_server = await aiohttp_server(app)
    url = str(test_server.make_url("/ws"))  # type: ignore[attr-defined]
    connector = aiohttp.TCPConnector(socket_factory=small_send_buffer, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        conn = await dial(url, {"default": {}}, session=session, close_timeout=CLOSE_TIMEOUT)
        client_socket = socket_link(sockets[0])
        for _ in range(48):  # 3 MiB: under the client's own outbound budget, far over the buffers
            conn.send_frame(Frame(b"x" * 65536, True))
        try:
            await wait_for(conn.close())
            await until(lambda: client_socket not in open_fds())
        finally:
            stop.set()
