"""The in-memory transport: socket pairs, the upgrade as the aiohttp glue does it, and the
Python client over memory (`dial_memory`). No network: everything runs in the test's loop."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from aioneffos.framework import (
    CloseCode,
    Conn,
    ConnectionRefusedByPeerError,
    MemorySocket,
    Message,
    NSConn,
    Server,
    UpgradeRefusedError,
    accept_memory,
    dial_memory,
    get_request,
    get_server,
    memory_request,
    pipe,
)
from aioneffos.framework.protocol import Frame
from support.waiting import Inbox, wait_for


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


# -- the pair ------------------------------------------------------------------------


async def test_a_pair_carries_frames_in_order_both_ways_keeping_their_type() -> None:
    left, right = pipe()

    await left.send("one")
    await left.send(b"\x00two")
    await right.send("back")

    assert [await right.receive(), await right.receive(), await left.receive()] == ["one", b"\x00two", "back"]


async def test_a_close_is_answered_and_both_ends_know_its_code_and_reason() -> None:
    left, right = pipe()
    reader = asyncio.create_task(right.receive())

    assert await wait_for(left.close(code=4000, message=b"bye")) is True
    assert await wait_for(reader) is None
    assert (left.close_code, right.close_code, right.close_reason) == (4000, 4000, "bye")
    assert await left.close() is False  # closed already


async def test_frames_sent_before_the_close_arrive_before_it() -> None:
    left, right = pipe()
    await left.send("last words")
    closing = asyncio.create_task(left.close(code=1000))

    assert (await right.receive(), await right.receive()) == ("last words", None)
    await wait_for(closing)


async def test_abort_ends_both_ends_with_1006() -> None:
    left, right = pipe()
    await left.send("lost")

    left.abort()

    assert (await right.receive(), await left.receive(), left.close_code, right.close_code) == (
        None,
        None,
        1006,
        1006,
    )
    assert (left.lost, left.write_now(Frame(b"x", True))) == (True, False)


async def test_a_full_end_makes_its_writer_wait_until_it_reads() -> None:
    left, right = pipe(capacity=1)
    assert left.write_now(Frame(b"first", True)) is True
    assert left.write_now(Frame(b"second", True)) is False  # the peer holds one unread frame

    writing = asyncio.create_task(left.write(Frame(b"second", True)))
    assert await right.receive() == "first"
    await wait_for(writing)
    assert await right.receive() == "second"


# -- the upgrade request ---------------------------------------------------------------


async def test_memory_request_is_an_aiohttp_request_with_headers_query_and_remote() -> None:
    request = memory_request("/ws?room=lobby", {"X-User": "ann", "Cookie": "s=1"}, remote="10.0.0.7")

    assert (request.method, request.path, request.query["room"], request.headers["X-User"]) == (
        "GET",
        "/ws",
        "lobby",
        "ann",
    )
    assert (request.remote, request.cookies["s"], request.transport, request.app is not None) == (
        "10.0.0.7",
        "1",
        None,
        True,
    )


async def test_the_server_sees_the_request_as_its_aiohttp_glue_makes_it() -> None:
    seen = Inbox()

    def on_connect(conn: Conn) -> None:
        request = get_request(conn)
        seen.put((request.headers.get("X-User"), request.headers.get("Origin"), request.remote, conn.id))

    server = Server({"default": {}}, on_connect=on_connect, id_generator=lambda r: r.headers["X-User"])
    path = "/ws?X-Websocket-Header-X-User=ann&X-Websocket-Header-Origin=http://evil.example"
    conn = await dial_memory(server, {"default": {}}, path=path, remote="10.0.0.7")

    # a query parameter adds a header the request lacks, never a protected one
    assert await seen.get() == ("ann", None, "10.0.0.7", "ann")
    assert (conn.id, get_server(next(iter(server.connections))) is server) == ("ann", True)
    await conn.close()
    await server.close()


# -- accepting -------------------------------------------------------------------------


async def test_a_raw_peer_does_the_handshake_frame_by_frame() -> None:
    server = Server({"default": {"echo": echo}}, id_generator=lambda r: "c1")
    peer = await accept_memory(server)

    await peer.send("M")
    assert await peer.receive() == "Ac1"
    await peer.send("$1;default;;_OnNamespaceConnect;0;0;")
    assert await peer.receive() == "$1;;;;;;"
    await peer.send("$2;default;;echo;0;0;hi")
    assert await peer.receive() == "$2;default;;echo;0;0;hi"
    closing = asyncio.create_task(server.close())  # the peer reads, so it answers the close frame
    assert (await peer.receive(), peer.close_code, peer.close_reason) == (
        None,
        CloseCode.GOING_AWAY,
        "server shutdown",
    )
    await wait_for(closing)


@pytest.mark.parametrize(
    ("options", "headers", "refusal", "status"),
    [
        ({"max_connections": 1}, {}, "too many connections", 503),
        ({}, {"Origin": "http://other.example", "Host": "app.example"}, "origin not allowed", 403),
    ],
)
async def test_accepting_refuses_as_the_http_phase_does(
    options: dict[str, object], headers: dict[str, str], refusal: str, status: int
) -> None:
    server = Server({"default": {}}, **options)
    first = await accept_memory(server)
    await first.send("M")
    await first.receive()

    with pytest.raises(ConnectionRefusedError, match=refusal) as refused:
        await accept_memory(server, headers=headers)
    assert isinstance(refused.value, UpgradeRefusedError)
    assert refused.value.status == status
    await first.close()
    await server.close()


async def test_a_closed_server_refuses_a_memory_connection() -> None:
    server = Server({"default": {}})
    await server.close()

    with pytest.raises(ConnectionRefusedError, match="websocket server is closed"):
        await accept_memory(server)


async def test_a_refusal_in_on_connect_reaches_the_memory_client() -> None:
    def refuse(conn: Conn) -> None:
        raise PermissionError("not today")

    server = Server({"default": {}}, on_connect=refuse)

    with pytest.raises(ConnectionRefusedByPeerError, match="not today"):
        await dial_memory(server, {"default": {}})
    await server.close()


# -- the client over memory ---------------------------------------------------------------


async def test_a_client_over_memory_asks_emits_and_is_asked() -> None:
    got = Inbox()

    async def question(ns: NSConn, msg: Message) -> str:
        return f"client says {msg.text}"

    async def on_connected(ns: NSConn, msg: Message) -> None:
        ns.emit("welcome", b"hello")
        got.put(await ns.ask("question", "?"))

    server = Server({"default": {"echo": echo, "_OnNamespaceConnected": on_connected}})
    conn = await dial_memory(server, {"default": {"welcome": got.handler, "question": question}})
    ns = await conn.connect("default")

    assert (await ns.ask("echo", "hi")).body == b"hi"
    # The emit is held while the connect (the client's ask) is handled, and the server's
    # own ask is not (docs/protocol.md#reply-order): the answer comes back first.
    answer, welcome = await got.get(), await got.get()
    assert (answer.text, welcome.body) == ("client says ?", b"hello")
    await conn.close()
    await server.close()


async def test_the_server_closing_a_memory_connection_gives_its_code_to_the_client() -> None:
    server = Server({"default": {}}, id_generator=lambda r: "c1")
    conn = await dial_memory(server, {"default": {}})

    server.close_connection("c1", code=CloseCode.POLICY_VIOLATION, reason="kicked")
    await wait_for(conn.wait_closed())

    assert (conn.close_code, conn.is_closed) == (CloseCode.POLICY_VIOLATION, True)
    await server.close()


async def test_a_client_over_memory_reconnects_and_restores_its_namespace_and_room() -> None:
    joined = Inbox()
    server = Server(
        {"default": {}}, id_generator=lambda r: f"try-{r.headers.get('X-Websocket-Reconnect', '0')}"
    )
    client_events = {"default": {"_OnRoomJoined": lambda ns, msg: joined.put(msg.room)}}
    conn = await dial_memory(server, client_events, reconnect=0.001)
    ns = await conn.connect("default")
    room = await ns.join_room("lobby")
    assert await joined.get() == "lobby"

    server.close_connection("try-0")  # a forced drop: the client dials again

    assert await joined.get() == "lobby"  # restored on the new connection (the client's hook)
    assert (conn.id, conn.was_reconnected, ns.room("lobby") is room, room.is_joined) == (
        "try-1",
        True,
        True,
        True,
    )
    await conn.close()
    await server.close()


async def test_a_memory_request_belongs_to_the_given_app_and_each_socket_is_handed_over() -> None:
    app = web.Application()
    seen = Inbox()
    server = Server({"default": {}}, on_connect=lambda conn: seen.put(get_request(conn).app))
    opened: list[MemorySocket] = []

    conn = await dial_memory(server, {"default": {}}, app=app, on_open=opened.append)

    assert (await seen.get() is app, len(opened)) == (True, 1)
    await conn.close()
    await server.close()


async def test_served_waits_until_the_server_has_finished_with_the_connection() -> None:
    entered, finishing = asyncio.Event(), asyncio.Event()
    finished = Inbox()

    async def on_disconnect(conn: Conn) -> None:
        entered.set()
        await finishing.wait()
        finished.put(conn.id)

    server = Server({"default": {}}, on_disconnect=on_disconnect, id_generator=lambda r: "c1")
    end = await accept_memory(server)
    await end.send("M")
    await end.receive()
    await end.close()
    served = asyncio.ensure_future(end.served())
    await wait_for(entered.wait())  # the server is in on_disconnect: served still waits

    assert (served.done(), finished.entries) == (False, [])
    finishing.set()
    await wait_for(served)
    assert finished.entries == ["c1"]
    await server.close()
