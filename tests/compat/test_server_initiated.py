"""Our server drives neffos.js 0.1.34: asks, joins, leaves, connects and disconnects it.

See docs/protocol.md#server-asks, docs/protocol.md#server-connect,
docs/protocol.md#namespace-disconnect, docs/protocol.md#room-join and docs/protocol.md#room-leave.
"""

from __future__ import annotations

import pytest

from aioneffos.framework import AskTimeoutError, Conn, Message, NSConn, RemoteError, Server
from compat.node_client import RECORD, NodeConn, NodeDriver, error, reply
from compat.server_probe import Probe, counting_ids

pytestmark = pytest.mark.compat

ROOM_HOOKS = ("_OnRoomJoin", "_OnRoomJoined", "_OnRoomLeave", "_OnRoomLeft")


async def connected(driver: NodeDriver, url: str, events: dict[str, object] | None = None) -> NodeConn:
    client = await driver.dial(url, {"default": events or {}})
    await client.connect("default")
    return client


def server_ns(server: Server, conn_id: str = "conn-1") -> NSConn:
    conn = server.connection(conn_id)
    assert conn is not None
    ns = conn.namespace("default")
    assert ns is not None
    return ns


async def test_server_ask_resolves_with_the_client_reply(serve, driver: NodeDriver) -> None:
    server = Server({"default": {}}, id_generator=counting_ids())
    client = await connected(driver, await serve(server), {"question": reply("fine; thanks")})

    answer = await server_ns(server).ask("question", "how are you?")

    assert (answer.namespace, answer.event, answer.body, answer.err) == (
        "default",
        "question",
        b"fine; thanks",
        None,
    )
    asked = await client.wait_for("question")
    assert (asked.body, asked.is_local) == ("how are you?", False)
    assert asked.wait is not None
    assert asked.wait.isdigit()  # server tokens carry no "$" or "#" prefix (docs/protocol.md#ask-tokens)


async def test_server_ask_raises_the_error_the_client_answered(serve, driver: NodeDriver) -> None:
    server = Server({"default": {}}, id_generator=counting_ids())
    await connected(driver, await serve(server), {"question": error("nope; sorry")})

    with pytest.raises(RemoteError) as info:
        await server_ns(server).ask("question", "how are you?")

    assert info.value.text == "nope; sorry"


async def test_server_ask_unanswered_by_neffos_js_times_out(serve, driver: NodeDriver) -> None:
    server = Server({"default": {}}, id_generator=counting_ids())
    client = await connected(driver, await serve(server), {"question": RECORD})

    # A neffos.js handler returning nothing sends nothing back (docs/protocol.md#neffos-js).
    with pytest.raises(AskTimeoutError):
        await server_ns(server).ask("question", "hello?", timeout=0.3)

    assert (await client.wait_for("question")).body == "hello?"


async def test_handler_may_ask_its_own_client_before_answering(serve, driver: NodeDriver) -> None:
    async def relay(ns: NSConn, msg: Message) -> bytes:
        answer = await ns.ask("question", msg.body)
        return b"client said: " + answer.body

    url = await serve(Server({"default": {"relay": relay}}))
    client = await connected(driver, url, {"question": reply("fine")})

    answer = await client.ask("default", "relay", "how are you?")

    assert answer.body == "client said: fine"
    assert (await client.wait_for("question")).body == "how are you?"


async def test_server_wide_ask_to_one_id_reaches_that_client(serve, driver: NodeDriver) -> None:
    server = Server({"default": {}}, id_generator=counting_ids())
    url = await serve(server)
    await connected(driver, url, {"question": reply("from one")})
    await connected(driver, url, {"question": reply("from two")})

    answer = await server.ask(Message("default", "question", "who?", to="conn-2"))

    assert answer.body == b"from two"


async def test_server_join_fires_the_client_join_events(serve, driver: NodeDriver, probe: Probe) -> None:
    server = Server({"default": probe.events(*ROOM_HOOKS)}, id_generator=counting_ids())
    client = await connected(driver, await serve(server), {"news": RECORD})
    ns = server_ns(server)

    room = await ns.join_room("srv;room")

    join = await client.wait_for("_OnRoomJoin")
    joined = await client.wait_for("_OnRoomJoined")
    assert (join.room, join.is_local, joined.room, joined.is_local) == ("srv;room", False, "srv;room", False)
    assert (await client.state()).namespaces == {"default": ["srv;room"]}
    hook = await probe.next("_OnRoomJoin")
    assert (hook.room, hook.is_local) == ("srv;room", True)  # docs/protocol.md#server-join-order
    assert list(ns.rooms) == ["srv;room"]
    room.emit("news", "for the room")
    news = await client.wait_for("news")
    assert (news.room, news.body) == ("srv;room", "for the room")


async def test_server_leave_fires_the_client_leave_events(serve, driver: NodeDriver, probe: Probe) -> None:
    server = Server({"default": probe.events(*ROOM_HOOKS)}, id_generator=counting_ids())
    client = await connected(driver, await serve(server))
    ns = server_ns(server)
    await ns.join_room("srvroom")

    await ns.leave_room("srvroom")

    leave = await client.wait_for("_OnRoomLeave")
    left = await client.wait_for("_OnRoomLeft")
    assert (leave.room, leave.is_local, left.room, left.is_local) == ("srvroom", False, "srvroom", False)
    assert (await client.state()).namespaces == {"default": []}
    hook = await probe.next("_OnRoomLeft")
    assert (hook.room, hook.is_local) == ("srvroom", True)
    assert list(ns.rooms) == []


async def test_server_connect_from_on_connect_lets_the_client_emit_at_once(
    serve, driver: NodeDriver, probe: Probe
) -> None:
    async def on_connect(conn: Conn) -> None:
        await conn.connect("default")

    server = Server(
        {"default": probe.events("_OnNamespaceConnect", "_OnNamespaceConnected", "chat")},
        on_connect=on_connect,
        id_generator=counting_ids(),
    )

    client = await driver.dial(await serve(server), {"default": {}})

    assert client.id == "conn-1"  # A<id> went out first (docs/protocol.md#on-connect)
    connected_event = await client.wait_for("_OnNamespaceConnected")
    assert (connected_event.namespace, connected_event.is_local) == ("default", False)
    assert await client.emit("default", "chat", "right away")
    chat = await probe.next("chat")
    assert (chat.conn_id, chat.body) == ("conn-1", b"right away")
    hook = await probe.next("_OnNamespaceConnect")
    assert hook.is_local is True  # the server's own hook, before it asked the client
    assert (await client.state()).namespaces == {"default": []}


async def test_server_disconnect_fires_the_client_disconnect_event(
    serve, driver: NodeDriver, probe: Probe
) -> None:
    server = Server({"default": probe.events("_OnNamespaceDisconnect")}, id_generator=counting_ids())
    client = await connected(driver, await serve(server))
    ns = server_ns(server)

    await ns.disconnect()

    event = await client.wait_for("_OnNamespaceDisconnect")
    assert (event.namespace, event.is_local, event.is_forced) == ("default", False, False)
    assert (await client.state()).namespaces == {}
    hook = await probe.next("_OnNamespaceDisconnect")
    assert (hook.conn_id, hook.is_local) == ("conn-1", True)
    assert not ns.is_connected
    assert not await client.emit("default", "chat", "refused by neffos.js: not connected")
