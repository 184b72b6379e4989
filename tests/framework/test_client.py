"""The Python client (`dial`): handshake, headers, refusals, server-initiated requests, reconnection."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from aioneffos.framework import (
    BadNamespaceError,
    Conn,
    HandshakeError,
    Message,
    NSConn,
    Server,
    WriteClosedError,
    dial,
    get_request,
)
from support.serving import AppServer, Dial, Serve
from support.tools import free_port
from support.waiting import Inbox, wait_for


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


async def test_dial_gives_acknowledged_client_conn_with_server_id(serve: Serve, clients: Dial) -> None:
    conn = await clients(await serve(Server({"default": {}}, id_generator=lambda r: "conn-1")))
    assert (conn.id, conn.is_client, conn.is_acknowledged, conn.is_closed) == ("conn-1", True, True, False)


async def test_dial_async_id_generator_gives_its_id(serve: Serve, clients: Dial) -> None:
    async def make_id(request: web.Request) -> str:
        return "async-" + request.headers["X-User"]

    conn = await clients(await serve(Server({"default": {}}, id_generator=make_id)), headers={"X-User": "bo"})
    assert conn.id == "async-bo"


async def test_dial_headers_are_seen_by_server_request(serve: Serve, clients: Dial) -> None:
    seen = Inbox()
    server = Server(
        {"default": {}}, on_connect=lambda conn: seen.put(get_request(conn).headers.get("X-Token"))
    )
    await clients(await serve(server), headers={"X-Token": "abc"})
    assert await seen.get() == "abc"


async def test_dial_unreachable_server_raises_client_error() -> None:
    with pytest.raises(aiohttp.ClientConnectionError):
        await dial(f"ws://127.0.0.1:{free_port()}/ws", {"default": {}})


async def test_dial_server_that_never_acks_raises_handshake_error(serve: Serve) -> None:
    async def silent(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", silent)
    url = await serve(app=app)
    with pytest.raises(HandshakeError, match=r"^no handshake answer from the server$"):
        await dial(url, {"default": {}}, handshake_timeout=0.2)


async def test_dial_server_closing_during_handshake_raises_handshake_error(serve: Serve) -> None:
    async def rude(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive()
        await ws.close(code=1011, message=b"no")
        return ws

    app = web.Application()
    app.router.add_get("/ws", rude)
    url = await serve(app=app)
    with pytest.raises(HandshakeError, match=r"connection closed during the handshake"):
        await dial(url, {"default": {}})


async def test_client_close_fires_server_on_disconnect(serve: Serve, clients: Dial) -> None:
    gone = Inbox()
    conn = await clients(await serve(Server({"default": {}}, on_disconnect=lambda c: gone.put(c.id))))
    await conn.close()
    assert (await gone.get(), conn.is_closed) == (conn.id, True)


async def test_client_server_connect_to_undeclared_namespace_is_refused(serve: Serve, clients: Dial) -> None:
    # Vector 31: the client answers "bad namespace" for a namespace it does not declare; the
    # server's error says which side lacks it.
    outcome = Inbox()

    async def on_connect(conn: Conn) -> None:
        async def try_connect() -> None:
            try:
                await conn.connect("undeclared")
            except BadNamespaceError as exc:
                outcome.put(str(exc))

        conn.fire_and_forget(try_connect)

    server = Server({"default": {}, "undeclared": {}}, on_connect=on_connect)
    await clients(await serve(server), {"default": {}})
    assert (
        await outcome.get()
        == "the client did not declare namespace 'undeclared' (it answered 'bad namespace')"
    )


async def test_client_sees_forced_namespace_disconnect_when_server_closes(
    serve: Serve, clients: Dial
) -> None:
    gone = Inbox()
    server = Server({"default": {}})
    conn = await clients(
        await serve(server),
        {"default": {"_OnNamespaceDisconnect": lambda ns, msg: gone.put((msg.is_local, msg.is_forced))}},
    )
    await conn.connect("default")
    await server.close()
    await wait_for(conn.wait_closed())
    assert (await gone.get(), conn.namespace("default")) == ((True, True), None)


async def test_client_store_is_local_per_connection(serve: Serve, clients: Dial) -> None:
    conn = await clients(await serve(Server({"default": {}})))
    conn.store["k"] = "v"
    assert (conn.store.increment("n"), conn.store["k"]) == (1, "v")


# -- reconnection -------------------------------------------------------------------


def _restart_server(joined: Inbox, conns: Inbox) -> Server:
    return Server(
        {"default": {"echo": echo, "_OnRoomJoined": lambda ns, msg: joined.put((ns.conn, msg.room))}},
        on_connect=conns.put,
    )


async def test_reconnect_restores_namespace_and_room_on_same_nsconn(app_server: AppServer) -> None:
    joined, conns, restored = Inbox(), Inbox(), Inbox()
    url = await app_server.start(_restart_server(joined, conns))
    conn = await dial(
        url, {"default": {"_OnRoomJoined": lambda ns, msg: restored.put(msg.room)}}, reconnect=0.5
    )
    try:
        ns = await conn.connect("default")
        await ns.join_room("r")
        await joined.get()
        first: Conn = await conns.get()
        await app_server.stop()
        await app_server.start(_restart_server(joined, conns))
        second, room = await joined.get()
        assert [await restored.get(), await restored.get()] == ["r", "r"]
        assert (room, second.was_reconnected, second.reconnect_tries, first.was_reconnected) == (
            "r",
            True,
            1,
            False,
        )
        assert (conn.namespace("default") is ns, list(ns.rooms), conn.reconnect_tries) == (True, ["r"], 1)
        assert (await ns.ask("echo", "back again")).body == b"back again"
    finally:
        await conn.close()


async def test_reconnect_keeps_client_conn_id_in_sync(app_server: AppServer) -> None:
    ids = iter(["first", "second"])
    joined, conns = Inbox(), Inbox()

    def server() -> Server:
        made = _restart_server(joined, conns)
        made.id_generator = lambda request: next(ids)
        return made

    conn = await dial(await app_server.start(server()), {"default": {}}, reconnect=0.5)
    try:
        await (await conn.connect("default")).join_room("r")
        await joined.get()
        await app_server.stop()
        await app_server.start(server())
        await joined.get()
        assert conn.id == "second"
    finally:
        await conn.close()


async def test_without_reconnect_client_ends_when_server_closes(serve: Serve, clients: Dial) -> None:
    server = Server({"default": {}})
    conn = await clients(await serve(server))
    await server.close()
    await wait_for(conn.wait_closed())
    assert conn.is_closed is True
    with pytest.raises(WriteClosedError):
        await conn.connect("default")
