"""What a port from neffos relies on: `Server.do` with coroutines, `get_server`, `str()` as the id,
`Conn.disconnect_all`, `Conn.wait_connect`, `Conn.write_native`, ``dial("host:port")`` and
native-only clients. Real server over loopback, the Python client or raw websockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from aioneffos.framework import (
    ON_NAMESPACE_CONNECTED,
    ON_NAMESPACE_DISCONNECT,
    ON_NATIVE_MESSAGE,
    AskTimeoutError,
    Conn,
    Events,
    Message,
    NSConn,
    RemoteError,
    Server,
    WriteClosedError,
    dial,
    get_server,
)
from support.serving import Dial, RawConnect, Serve
from support.waiting import Inbox, wait_for


def named(*ids: str) -> Callable[[object], str]:
    """An id generator giving *ids* in turn."""
    it = iter(ids)
    return lambda request: next(it)


async def connected_clients(
    serve: Serve, clients: Dial, server: Server, count: int, **kwargs: object
) -> tuple[list[Conn], Inbox]:
    """Dial *count* clients into namespace ``default``, answering ``ping``; their
    ``_OnNamespaceDisconnect`` calls go to the inbox."""
    url = await serve(server)
    disconnected = Inbox()
    handlers = {
        "default": {
            ON_NAMESPACE_DISCONNECT: lambda ns, msg: disconnected.put(ns.conn.id),
            "ping": lambda ns, msg: "pong",
        }
    }
    conns = []
    for _ in range(count):
        conn = await clients(url, handlers, **kwargs)
        await conn.connect("default")
        conns.append(conn)
    return conns, disconnected


# -- Server.do ---------------------------------------------------------------------


async def test_do_awaits_a_coroutine_function_for_every_connection(serve: Serve, clients: Dial) -> None:
    server = Server({"default": {}}, id_generator=named("a", "b"))
    _, disconnected = await connected_clients(serve, clients, server, 2)

    async def force_disconnect(conn: Conn) -> None:
        await conn.disconnect_all()

    await wait_for(server.do(force_disconnect))

    assert sorted([await disconnected.get(), await disconnected.get()]) == ["a", "b"]
    assert list(server.namespace_connections("default")) == []


async def test_do_not_awaited_finishes_in_the_background(serve: Serve, clients: Dial) -> None:
    server = Server({"default": {}}, id_generator=named("a"))
    _, disconnected = await connected_clients(serve, clients, server, 1)

    server.do(lambda conn: conn.disconnect_all())  # neffos Do(fn, true): not waited for

    assert await disconnected.get() == "a"


async def test_do_plain_function_runs_before_returning_and_awaits_as_done(
    serve: Serve, clients: Dial
) -> None:
    server = Server({"default": {}}, id_generator=named("a", "b"))
    await connected_clients(serve, clients, server, 2)
    seen: list[str] = []

    done = server.do(lambda conn: seen.append(conn.id))

    assert sorted(seen) == ["a", "b"]
    assert await wait_for(done) is None


async def test_do_concurrent_starts_every_connection_before_any_finishes(serve: Serve, clients: Dial) -> None:
    steps: list[str] = []

    async def ask_each(conn: Conn) -> None:
        steps.append(f"start {conn.id}")
        ns = conn.namespace("default")
        assert ns is not None
        await ns.ask("ping")
        steps.append(f"end {conn.id}")

    server = Server({"default": {}}, id_generator=named("a", "b"))
    await connected_clients(serve, clients, server, 2)
    await wait_for(server.do(ask_each))

    assert sorted(steps[:2]) == ["start a", "start b"]
    assert sorted(steps[2:]) == ["end a", "end b"]


async def test_do_concurrent_false_finishes_each_connection_before_the_next(
    serve: Serve, clients: Dial
) -> None:
    steps: list[str] = []

    async def ask_each(conn: Conn) -> None:
        steps.append(f"start {conn.id}")
        ns = conn.namespace("default")
        assert ns is not None
        await ns.ask("ping")
        steps.append(f"end {conn.id}")

    server = Server({"default": {}}, id_generator=named("a", "b"))
    await connected_clients(serve, clients, server, 2)
    await wait_for(server.do(ask_each, concurrent=False))

    assert steps in (
        ["start a", "end a", "start b", "end b"],
        ["start b", "end b", "start a", "end a"],
    )


async def test_do_one_failure_does_not_stop_the_others_and_is_raised_in_a_group(
    serve: Serve, clients: Dial
) -> None:
    server = Server({"default": {}}, id_generator=named("bad", "good"))
    _, disconnected = await connected_clients(serve, clients, server, 2)

    async def disconnect_unless_bad(conn: Conn) -> None:
        if conn.id == "bad":
            raise PermissionError("not this one")
        await conn.disconnect_all()

    with pytest.raises(ExceptionGroup) as caught:
        await wait_for(server.do(disconnect_unless_bad))

    assert await disconnected.get() == "good"
    (failure,) = caught.value.exceptions
    assert isinstance(failure, PermissionError)
    assert any("'bad'" in note for note in failure.__notes__)


async def test_do_with_no_connections_can_still_be_awaited() -> None:
    server = Server({"default": {}})

    async def never(conn: Conn) -> None:
        raise AssertionError("no connection to call")

    assert await wait_for(server.do(never)) is None
    assert await wait_for(server.do(never, concurrent=False)) is None


# -- get_server, str() ----------------------------------------------------------------


async def test_get_server_gives_the_server_in_a_handler_and_refuses_a_client_conn(
    serve: Serve, clients: Dial
) -> None:
    seen = Inbox()
    server = Server({"default": {"who": lambda ns, msg: seen.put(get_server(ns.conn))}})
    client = await clients(await serve(server))
    ns = await client.connect("default")

    await ns.ask("who")

    assert await seen.get() is server
    with pytest.raises(TypeError, match="client-side connection"):
        get_server(client)


async def test_str_of_conn_ns_conn_and_room_is_the_connection_id(serve: Serve, clients: Dial) -> None:
    names = Inbox()

    def joined(ns: NSConn, msg: Message) -> None:
        room = ns.room(msg.room)
        names.put([f"{ns.conn}", f"{ns}", f"{room}"])

    server = Server({"default": {"_OnRoomJoined": joined}}, id_generator=named("ann"))
    client = await clients(await serve(server))
    ns = await client.connect("default")
    room = await ns.join_room("lobby")

    assert await names.get() == ["ann", "ann", "ann"]
    assert [str(client), str(ns), str(room)] == ["ann", "ann", "ann"]
    assert repr(client).startswith("<Conn 'ann' client")


# -- Conn.disconnect_all --------------------------------------------------------------


async def test_disconnect_all_from_the_server_disconnects_every_namespace_of_the_client(
    serve: Serve, clients: Dial
) -> None:
    server = Server({"chat": {}, "news": {}}, id_generator=named("a"))
    client_saw = Inbox()
    url = await serve(server)
    handlers = {
        name: {ON_NAMESPACE_DISCONNECT: lambda ns, msg: client_saw.put(ns.namespace)}
        for name in ("chat", "news")
    }
    client = await clients(url, handlers)
    await client.connect("chat")
    await client.connect("news")
    (conn,) = server.connections

    await wait_for(conn.disconnect_all())

    assert sorted([await client_saw.get(), await client_saw.get()]) == ["chat", "news"]
    assert dict(conn.namespaces) == {}
    assert dict(client.namespaces) == {}


async def test_disconnect_all_tries_every_namespace_then_raises_the_first_refusal(
    serve: Serve, clients: Dial
) -> None:
    def refuse(ns: NSConn, msg: Message) -> None:
        raise PermissionError("stay a while")

    server = Server({"chat": {ON_NAMESPACE_DISCONNECT: refuse}, "news": {}})
    client = await clients(await serve(server), {"chat": {}, "news": {}})
    await client.connect("chat")
    await client.connect("news")

    with pytest.raises(RemoteError, match="stay a while"):
        await wait_for(client.disconnect_all())

    assert list(client.namespaces) == ["chat"]  # refused by the server: still connected


async def test_disconnect_all_does_nothing_on_a_native_only_connection(serve: Serve) -> None:
    connected: asyncio.Queue[Conn] = asyncio.Queue()
    server = Server(Events({ON_NATIVE_MESSAGE: lambda ns, msg: None}), on_connect=connected.put_nowait)
    url = await serve(server)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        conn = await wait_for(connected.get())
        await wait_for(conn.disconnect_all())
        assert list(conn.namespaces) == [""]
        await ws.send_str("still here")  # the peer got no neffos frame and the socket is open
        assert not conn.is_closed


# -- Conn.wait_connect ------------------------------------------------------------------


async def test_wait_connect_gives_the_namespace_the_server_connects(serve: Serve, clients: Dial) -> None:
    async def on_connect(conn: Conn) -> None:
        ns = await conn.connect("default")
        ns.emit("chat", "(force-connected by server)")

    heard = Inbox()
    server = Server({"default": {}}, on_connect=on_connect)
    client = await clients(await serve(server), {"default": {"chat": lambda ns, msg: heard.put(msg.text)}})

    ns = await client.wait_connect("default", timeout=5)

    assert ns is client.namespace("default")
    assert await heard.get() == "(force-connected by server)"
    assert await client.wait_connect("default") is ns  # already connected: at once


async def test_wait_connect_on_the_server_gives_the_namespace_the_client_connects(
    serve: Serve, clients: Dial
) -> None:
    waited = Inbox()

    async def on_connect(conn: Conn) -> None:
        conn.fire_and_forget(lambda: _record(waited, conn.wait_connect("default")))

    client = await clients(await serve(Server({"default": {}}, on_connect=on_connect)))
    await client.connect("default")

    ns = await waited.get()
    assert (ns.namespace, ns.conn.is_client) == ("default", False)


async def _record(inbox: Inbox, work: Awaitable[NSConn]) -> None:
    inbox.put(await work)


async def test_wait_connect_times_out_when_nobody_connects(serve: Serve, clients: Dial) -> None:
    client = await clients(await serve(Server({"default": {}})))

    with pytest.raises(AskTimeoutError, match="'default' was not connected"):
        await client.wait_connect("default", timeout=0.05)

    await client.connect("default")  # the expired waiter is gone and harms nothing


async def test_wait_connect_raises_write_closed_when_the_connection_ends(serve: Serve, clients: Dial) -> None:
    server = Server({"default": {}})
    client = await clients(await serve(server))
    waiting = asyncio.ensure_future(client.wait_connect("default", timeout=5))
    await asyncio.sleep(0)  # let it register its waiter

    await server.close()

    with pytest.raises(WriteClosedError):
        await wait_for(waiting)


# -- Conn.write_native -----------------------------------------------------------------


async def test_write_native_to_a_native_only_peer_is_the_raw_frame(serve: Serve) -> None:
    def pong(ns: NSConn, msg: Message) -> None:
        ns.conn.write_native(b"pong")  # neffos: c.Conn.Socket().WriteText(pongMessage, 0)
        ns.conn.write_native(b"\x00\x01", binary=True)

    url = await serve(Server(Events({ON_NATIVE_MESSAGE: pong})))
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str("ping")
        async with asyncio.timeout(5):
            text, binary = await ws.receive(), await ws.receive()

    assert (text.type, text.data) == (aiohttp.WSMsgType.TEXT, "pong")
    assert (binary.type, binary.data) == (aiohttp.WSMsgType.BINARY, b"\x00\x01")


async def test_write_native_to_a_neffos_peer_is_an_on_native_message_event(
    serve: Serve, raw: RawConnect
) -> None:
    connected: asyncio.Queue[Conn] = asyncio.Queue()
    server = Server(
        {"": {ON_NATIVE_MESSAGE: lambda ns, msg: None}, "chat": {}}, on_connect=connected.put_nowait
    )
    peer = await raw(await serve(server))
    conn = await wait_for(connected.get())
    assert conn.write_native("too early") is False  # namespace "" not connected yet

    await peer.connect("")
    assert conn.write_native("hello") is True

    assert await peer.recv() == f";;;{ON_NATIVE_MESSAGE};0;0;hello"


# -- dial ------------------------------------------------------------------------------


async def test_dial_without_a_scheme_adds_ws(serve: Serve) -> None:
    url = await serve(Server({"default": {}}, id_generator=named("bare")))
    conn = await dial(url.removeprefix("ws://"), {"default": {}})  # "127.0.0.1:port/ws", as neffos Dial
    try:
        assert conn.id == "bare"
        await conn.connect("default")
    finally:
        await conn.close()


async def test_native_only_client_talks_to_a_native_only_server_without_handshake(serve: Serve) -> None:
    server_got = Inbox()
    client_got = Inbox()

    def on_server(ns: NSConn, msg: Message) -> None:
        server_got.put(msg.text)
        ns.conn.write_native("pong")

    url = await serve(Server(Events({ON_NATIVE_MESSAGE: on_server})))
    client = await dial(url, Events({ON_NATIVE_MESSAGE: lambda ns, msg: client_got.put(msg.text)}))
    try:
        ns = await client.connect("")  # nothing to ask: namespace "" is connected from the start
        assert ns is client.namespace("")
        assert client.write_native("ping") is True

        assert await server_got.get() == "ping"
        assert await client_got.get() == "pong"
    finally:
        await client.close()


async def test_namespace_connected_handler_sees_str_id_on_the_client(serve: Serve, clients: Dial) -> None:
    seen = Inbox()
    server = Server({"default": {}}, id_generator=named("zoe"))
    client = await clients(
        await serve(server), {"default": {ON_NAMESPACE_CONNECTED: lambda ns, msg: seen.put(str(ns))}}
    )
    await client.connect("default")
    assert await seen.get() == "zoe"


@pytest.mark.parametrize("events", [{ON_NATIVE_MESSAGE: print}, {"chat": print}])
async def test_events_given_as_a_plain_dict_say_to_wrap_them_in_events(events: dict[str, object]) -> None:
    # neffos.New(upgrader, neffos.Events{...}) ported as a plain dict: it reads as namespaces.
    hint = r"wrap them in Events\(\{\.\.\.\}\) for namespace ''"
    with pytest.raises(TypeError, match=rf"namespace {next(iter(events))!r} .*: got .*{hint}"):
        Server(events)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=hint):
        await dial("ws://127.0.0.1:9/unused", events)  # type: ignore[arg-type]
