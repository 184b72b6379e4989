"""`NSConn` through our Python client: connect, emit, ask and reply, server asks, disconnect."""

from __future__ import annotations

import asyncio

import pytest

from aioneffos.framework import (
    BadNamespaceError,
    Conn,
    Message,
    NSConn,
    RemoteError,
    Reply,
    Server,
    WriteClosedError,
)
from support.serving import Dial, RawConnect, Serve
from support.waiting import Inbox


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


# -- connect ---------------------------------------------------------------------


async def test_connect_accepted_gives_connected_nsconn_on_both_sides(serve: Serve, clients: Dial) -> None:
    server_side = Inbox()
    server = Server({"default": {"_OnNamespaceConnected": lambda ns, msg: server_side.put(ns)}})
    conn = await clients(await serve(server))
    ns = await conn.connect("default")
    remote = await server_side.get()
    assert (ns.namespace, ns.is_connected, list(conn.namespaces)) == ("default", True, ["default"])
    assert (remote.namespace, remote.conn.id) == ("default", conn.id)


async def test_connect_twice_gives_same_nsconn(serve: Serve, clients: Dial) -> None:
    conn = await clients(await serve(Server({"default": {}})))
    assert await conn.connect("default") is await conn.connect("default")


async def test_connect_refused_by_handler_raises_remote_error_with_text(serve: Serve, clients: Dial) -> None:
    def refuse(ns: NSConn, msg: Message) -> None:
        raise PermissionError("not allowed")

    conn = await clients(
        await serve(Server({"forbidden": {"_OnNamespaceConnect": refuse}})), {"forbidden": {}}
    )
    with pytest.raises(RemoteError, match=r"^not allowed$"):
        await conn.connect("forbidden")
    assert conn.namespace("forbidden") is None


async def test_connect_refused_answers_exact_frame(serve: Serve, raw: RawConnect) -> None:
    def refuse(ns: NSConn, msg: Message) -> None:
        raise PermissionError("not allowed")

    peer = await raw(await serve(Server({"forbidden": {"_OnNamespaceConnect": refuse}})))
    await peer.send("$7;forbidden;;_OnNamespaceConnect;0;0;")
    assert await peer.recv() == "$7;forbidden;;_OnNamespaceConnect;1;0;not allowed"


async def test_connect_namespace_the_server_lacks_raises_bad_namespace_naming_it(
    serve: Serve, clients: Dial
) -> None:
    conn = await clients(await serve(Server({"default": {}})), {"nope": {}})
    with pytest.raises(BadNamespaceError) as caught:
        await conn.connect("nope")
    assert (str(caught.value), caught.value.namespace) == (
        "the server has no namespace 'nope' (it answered 'bad namespace')",
        "nope",
    )


async def test_connect_undeclared_namespace_fails_locally(serve: Serve, clients: Dial) -> None:
    conn = await clients(await serve(Server({"default": {}, "other": {}})), {"default": {}})
    with pytest.raises(BadNamespaceError):
        await conn.connect("other")


async def test_connect_server_emit_in_connected_handler_arrives_after_connect(
    serve: Serve, clients: Dial
) -> None:
    got = Inbox()

    def welcome(ns: NSConn, msg: Message) -> None:
        ns.emit("welcome", "hi")

    server = Server({"default": {"_OnNamespaceConnected": welcome}})
    conn = await clients(await serve(server), {"default": {"welcome": lambda ns, msg: got.put(msg.body)}})
    await conn.connect("default")
    assert await got.get() == b"hi"


# -- emit and ask ----------------------------------------------------------------


async def test_emit_reaches_server_handler(serve: Serve, clients: Dial) -> None:
    got = Inbox()
    server = Server({"default": {"chat": lambda ns, msg: got.put((msg.event, msg.body, msg.wait))}})
    ns = await (await clients(await serve(server))).connect("default")
    ns.emit("chat", "hello; world")
    assert await got.get() == ("chat", b"hello; world", "")


async def test_emit_return_value_goes_back_as_same_event(serve: Serve, clients: Dial) -> None:
    got = Inbox()
    server = Server({"default": {"echo": echo}})
    ns = await (
        await clients(await serve(server), {"default": {"echo": lambda ns, msg: got.put(msg)}})
    ).connect("default")
    ns.emit("echo", "ping")
    msg = await got.get()
    assert (msg.event, msg.body, msg.wait) == ("echo", b"ping", "")


async def test_emit_error_goes_back_as_error_message(serve: Serve, clients: Dial) -> None:
    got = Inbox()

    def fail(ns: NSConn, msg: Message) -> None:
        raise ValueError("custom; failure")

    server = Server({"default": {"fail": fail}})
    client = await clients(await serve(server), {"default": {"fail": lambda ns, msg: got.put(msg)}})
    (await client.connect("default")).emit("fail", "not an ask")
    msg = await got.get()
    assert (msg.event, msg.err, msg.wait) == ("fail", "custom; failure", "")


async def test_emit_on_disconnected_namespace_raises_write_closed_naming_it(
    serve: Serve, clients: Dial
) -> None:
    ns = await (await clients(await serve(Server({"default": {}})))).connect("default")
    await ns.disconnect()
    with pytest.raises(WriteClosedError) as caught:
        ns.emit("chat", "x")
    assert (str(caught.value), caught.value.namespace, type(caught.value)) == (
        "cannot write to namespace 'default': it is not connected (disconnected)",
        "default",
        WriteClosedError,
    )


async def test_emit_to_a_room_not_joined_raises_write_closed_naming_it(serve: Serve, clients: Dial) -> None:
    ns = await (await clients(await serve(Server({"default": {}})))).connect("default")
    with pytest.raises(
        WriteClosedError, match=r"^cannot write to room 'r' of namespace 'default': it is not joined"
    ):
        ns.emit("chat", "x", room="r")


async def test_emit_after_the_connection_closed_raises_write_closed(serve: Serve, clients: Dial) -> None:
    conn = await clients(await serve(Server({"default": {}})))
    ns = await conn.connect("default")
    await conn.close()
    with pytest.raises(
        WriteClosedError, match=r"^cannot write to namespace 'default': connection '.+' is closed$"
    ):
        ns.emit("chat", "x")


async def test_ask_gets_handler_reply(serve: Serve, clients: Dial) -> None:
    ns = await (await clients(await serve(Server({"default": {"echo": echo}})))).connect("default")
    reply = await ns.ask("echo", "ping;1")
    assert (reply.namespace, reply.event, reply.body, reply.err) == ("default", "echo", b"ping;1", None)


async def test_ask_reply_value_types_are_encoded(serve: Serve, clients: Dial) -> None:
    answers = {"text": "é", "json": {"a": 1}, "reply": Reply(b"r"), "empty": Reply()}
    server = Server({"default": {"get": lambda ns, msg: answers[msg.text]}})
    ns = await (await clients(await serve(server))).connect("default")
    bodies = [(await ns.ask("get", key)).body for key in answers]
    assert bodies == ["é".encode(), b'{"a":1}', b"r", b""]


async def test_ask_error_reply_raises_remote_error_with_exact_text(serve: Serve, clients: Dial) -> None:
    def fail(ns: NSConn, msg: Message) -> None:
        raise ValueError("custom; failure")

    ns = await (await clients(await serve(Server({"default": {"fail": fail}})))).connect("default")
    with pytest.raises(RemoteError) as caught:
        await ns.ask("fail")
    assert caught.value.text == "custom; failure"


async def test_ask_bad_namespace_error_from_handler_raises_bad_namespace(serve: Serve, clients: Dial) -> None:
    def badns(ns: NSConn, msg: Message) -> None:
        raise BadNamespaceError()

    ns = await (await clients(await serve(Server({"default": {"badns": badns}})))).connect("default")
    with pytest.raises(BadNamespaceError, match=r"^bad namespace$"):
        await ns.ask("badns")


async def test_ask_handler_returning_none_gives_empty_reply(serve: Serve, clients: Dial) -> None:
    ns = await (await clients(await serve(Server({"default": {"noop": lambda ns, msg: None}})))).connect(
        "default"
    )
    reply = await ns.ask("noop", "x")
    assert (reply.namespace, reply.event, reply.body, reply.err) == ("", "", b"", None)


async def test_ask_handler_returning_none_sends_empty_reply_frame(serve: Serve, raw: RawConnect) -> None:
    peer = await raw(await serve(Server({"default": {"noop": lambda ns, msg: None}})))
    await peer.connect("default")
    assert await peer.ask("default", "noop", "x") == "$raw2;;;;;;"


async def test_ask_unknown_event_gives_error_naming_it(serve: Serve, clients: Dial) -> None:
    ns = await (await clients(await serve(Server({"default": {}})))).connect("default")
    with pytest.raises(RemoteError, match=r"^unknown event 'missing'$"):
        await ns.ask("missing")


async def test_ask_on_any_event_handles_unknown_events(serve: Serve, clients: Dial) -> None:
    server = Server({"default": {"_OnAnyEvent": lambda ns, msg: "any:" + msg.event}})
    ns = await (await clients(await serve(server))).connect("default")
    assert (await ns.ask("whatever")).body == b"any:whatever"


async def test_ask_on_disconnected_namespace_raises_write_closed(serve: Serve, clients: Dial) -> None:
    ns = await (await clients(await serve(Server({"default": {}})))).connect("default")
    await ns.disconnect()
    with pytest.raises(WriteClosedError, match=r"^cannot write to namespace 'default': it is not connected"):
        await ns.ask("echo")


async def test_ask_sync_handler_is_called_too(serve: Serve, clients: Dial) -> None:
    server = Server({"default": {"upper": lambda ns, msg: msg.text.upper()}})
    ns = await (await clients(await serve(server))).connect("default")
    assert (await ns.ask("upper", "abc")).body == b"ABC"


# -- binary ----------------------------------------------------------------------


async def test_binary_ask_gets_binary_reply(serve: Serve, raw: RawConnect) -> None:
    peer = await raw(await serve(Server({"default": {"echo": echo}})))
    await peer.connect("default")
    await peer.send(b"$b;default;;echo;0;0;hi;\x00\xff")
    assert await peer.recv() == b"$b;default;;echo;0;0;hi;\x00\xff"


async def test_binary_ask_with_text_reply_still_binary(serve: Serve, raw: RawConnect) -> None:
    peer = await raw(await serve(Server({"default": {"echo": lambda ns, msg: "text"}})))
    await peer.connect("default")
    await peer.send(b"$b;default;;echo;0;0;\x01")
    assert await peer.recv() == b"$b;default;;echo;0;0;text"


async def test_binary_emit_from_python_client_arrives_binary(serve: Serve, clients: Dial) -> None:
    got = Inbox()
    server = Server({"default": {"bin": lambda ns, msg: got.put((msg.body, msg.is_binary))}})
    ns = await (await clients(await serve(server))).connect("default")
    ns.emit_binary("bin", b"\x00\x01;\xff")
    assert await got.get() == (b"\x00\x01;\xff", True)


async def test_binary_emit_from_server_reaches_client_as_binary(serve: Serve, clients: Dial) -> None:
    got = Inbox()

    def push(ns: NSConn, msg: Message) -> None:
        ns.emit_binary("pushedbin", b"\x00\x01;\xff")

    server = Server({"default": {"push": push}})
    client = await clients(await serve(server), {"default": {"pushedbin": lambda ns, msg: got.put(msg)}})
    (await client.connect("default")).emit("push")
    msg = await got.get()
    assert (msg.body, msg.is_binary) == (b"\x00\x01;\xff", True)


async def test_error_reply_to_binary_ask_is_text(serve: Serve, raw: RawConnect) -> None:
    def fail(ns: NSConn, msg: Message) -> None:
        raise ValueError("nope")

    peer = await raw(await serve(Server({"default": {"fail": fail}})))
    await peer.connect("default")
    await peer.send(b"$b;default;;fail;0;0;\x00")
    assert await peer.recv() == "$b;default;;fail;1;0;nope"


async def test_reply_with_invalid_utf8_body_goes_in_binary_frame(serve: Serve, raw: RawConnect) -> None:
    peer = await raw(await serve(Server({"default": {"raw": lambda ns, msg: b"\xff\xfe"}})))
    await peer.connect("default")
    await peer.send("$t;default;;raw;0;0;text ask")
    assert await peer.recv() == b"$t;default;;raw;0;0;\xff\xfe"


# -- the server asks the client ---------------------------------------------------


async def test_server_ask_from_handler_gets_client_reply_without_deadlock(
    serve: Serve, clients: Dial
) -> None:
    async def relay(ns: NSConn, msg: Message) -> bytes:
        answer = await ns.ask("question", b"how are you?")
        return b"client said: " + answer.body

    server = Server({"default": {"relay": relay}})
    client = await clients(await serve(server), {"default": {"question": lambda ns, msg: "fine, thanks"}})
    ns = await client.connect("default")
    assert (await ns.ask("relay")).body == b"client said: fine, thanks"


async def test_server_ask_client_error_raises_remote_error(serve: Serve, clients: Dial) -> None:
    async def relay(ns: NSConn, msg: Message) -> str:
        try:
            await ns.ask("question")
        except RemoteError as exc:
            return "caught " + exc.text
        return "no error"

    def refuse(ns: NSConn, msg: Message) -> None:
        raise RuntimeError("client says no")

    client = await clients(
        await serve(Server({"default": {"relay": relay}})), {"default": {"question": refuse}}
    )
    ns = await client.connect("default")
    assert (await ns.ask("relay")).body == b"caught client says no"


async def test_server_ask_wire_token_has_no_prefix(serve: Serve, raw: RawConnect) -> None:
    async def relay(ns: NSConn, msg: Message) -> bytes:
        return (await ns.ask("question", b"how are you?")).body

    peer = await raw(await serve(Server({"default": {"relay": relay}})))
    await peer.connect("default")
    await peer.send("$r;default;;relay;0;0;")
    request = await peer.recv()
    assert isinstance(request, str)
    token, rest = request.split(";", 1)
    assert (token.isdigit(), rest) == (True, "default;;question;0;0;how are you?")
    await peer.send(f"{token};default;;question;0;0;fine, thanks")
    assert await peer.recv() == "$r;default;;relay;0;0;fine, thanks"


# -- disconnect ------------------------------------------------------------------


async def test_client_disconnect_fires_server_handler_and_removes_namespace(
    serve: Serve, clients: Dial
) -> None:
    gone = Inbox()
    server = Server(
        {"default": {"_OnNamespaceDisconnect": lambda ns, msg: gone.put((msg.is_local, msg.is_forced))}}
    )
    conn = await clients(await serve(server))
    ns = await conn.connect("default")
    await ns.disconnect()
    assert (await gone.get(), ns.is_connected, conn.namespace("default")) == ((False, False), False, None)
    assert list(server.namespace_connections("default")) == []


async def test_client_disconnect_refused_by_server_keeps_namespace(serve: Serve, clients: Dial) -> None:
    def refuse(ns: NSConn, msg: Message) -> None:
        raise PermissionError("stay")

    ns = await (await clients(await serve(Server({"default": {"_OnNamespaceDisconnect": refuse}})))).connect(
        "default"
    )
    with pytest.raises(RemoteError, match=r"^stay$"):
        await ns.disconnect()
    assert ns.is_connected is True


async def test_server_disconnect_removes_namespace_on_client(serve: Serve, clients: Dial) -> None:
    gone = Inbox()

    async def kick(ns: NSConn, msg: Message) -> None:
        ns.conn.fire_and_forget(ns.disconnect)

    server = Server({"default": {"kick": kick}})
    client = await clients(
        await serve(server), {"default": {"_OnNamespaceDisconnect": lambda ns, msg: gone.put(msg.is_local)}}
    )
    ns = await client.connect("default")
    ns.emit("kick")
    assert (await gone.get(), client.namespace("default")) == (False, None)


async def test_server_disconnect_sends_exact_request(serve: Serve, raw: RawConnect) -> None:
    done = Inbox()

    async def on_connect(conn: Conn) -> None:
        async def connect_then_disconnect() -> None:
            ns = await conn.connect("default")
            await ns.disconnect()
            done.put(conn.namespace("default"))

        conn.fire_and_forget(connect_then_disconnect)

    peer = await raw(await serve(Server({"default": {}}, on_connect=on_connect)))
    connect = await peer.recv()
    assert isinstance(connect, str)
    await peer.send(connect.split(";", 1)[0] + ";;;;;;")
    request = await peer.recv()
    assert isinstance(request, str)
    token, rest = request.split(";", 1)
    assert rest == "default;;_OnNamespaceDisconnect;0;0;"
    await peer.send(f"{token};;;;;;")
    assert await done.get() is None


async def test_defer_runs_cleanups_last_first_on_disconnect(serve: Serve, clients: Dial) -> None:
    order: list[str] = []
    done = Inbox()

    def connected(ns: NSConn, msg: Message) -> None:
        def first() -> None:
            order.append("first")
            done.put(None)

        async def second() -> None:
            order.append("second")

        ns.defer(first)
        ns.defer(second)

    ns = await (
        await clients(await serve(Server({"default": {"_OnNamespaceConnected": connected}})))
    ).connect("default")
    await ns.disconnect()
    await done.get()
    assert order == ["second", "first"]


async def test_defer_runs_when_our_own_connect_hook_refuses(serve: Serve, clients: Dial) -> None:
    cleaned = Inbox()

    def refuse(ns: NSConn, msg: Message) -> None:
        ns.defer(lambda: cleaned.put(ns.namespace))
        raise PermissionError("not now")

    conn = await clients(await serve(Server({"default": {}})), {"default": {"_OnNamespaceConnect": refuse}})
    with pytest.raises(PermissionError, match="not now"):
        await conn.connect("default")
    assert await cleaned.get() == "default"
    assert conn.namespace("default") is None


async def test_close_fires_forced_namespace_disconnect_on_server(serve: Serve, clients: Dial) -> None:
    gone = Inbox()
    server = Server(
        {"default": {"_OnNamespaceDisconnect": lambda ns, msg: gone.put((msg.is_local, msg.is_forced))}}
    )
    conn = await clients(await serve(server))
    await conn.connect("default")
    await conn.close()
    assert await gone.get() == (True, True)


async def test_handler_raising_keeps_connection_up(serve: Serve, clients: Dial) -> None:
    def boom(ns: NSConn, msg: Message) -> None:
        raise ZeroDivisionError

    url = await serve(Server({"default": {"boom": boom, "echo": echo}}))
    other = await (await clients(url)).connect("default")
    ns = await (await clients(url)).connect("default")
    with pytest.raises(RemoteError, match=r"^ZeroDivisionError$"):
        await ns.ask("boom")
    assert (await ns.ask("echo", "still here")).body == b"still here"
    assert (await other.ask("echo", "served")).body == b"served"


async def test_broadcast_to_others_skips_sender_only(serve: Serve, clients: Dial) -> None:
    got = Inbox()

    def shout(ns: NSConn, msg: Message) -> None:
        ns.broadcast("news", msg.body, exclude_self=msg.body == b"others")

    url = await serve(Server({"default": {"shout": shout}}))
    members = []
    for name in ("alice", "bob", "carol"):

        def on_news(ns: NSConn, msg: Message, name: str = name) -> None:
            got.put((name, msg.body))

        members.append(await (await clients(url, {"default": {"news": on_news}})).connect("default"))
    members[0].emit("shout", "others")
    others = sorted([await got.get(), await got.get()])
    # A later broadcast to everyone proves alice got nothing from the first one.
    members[0].emit("shout", "all")
    everyone = sorted([await got.get() for _ in range(3)])
    assert (others, everyone) == (
        [("bob", b"others"), ("carol", b"others")],
        [("alice", b"all"), ("bob", b"all"), ("carol", b"all")],
    )


async def test_slow_handler_does_not_block_other_connections(serve: Serve, clients: Dial) -> None:
    release = asyncio.Event()

    async def slow(ns: NSConn, msg: Message) -> str:
        await release.wait()
        return "slow done"

    url = await serve(Server({"default": {"slow": slow, "echo": echo}}))
    blocked = await (await clients(url)).connect("default")
    other = await (await clients(url)).connect("default")
    pending = asyncio.ensure_future(blocked.ask("slow"))
    assert (await other.ask("echo", "free")).body == b"free"
    release.set()
    assert (await pending).body == b"slow done"


async def test_unanswered_ask_gets_silence_when_configured_like_neffos(serve: Serve, raw: RawConnect) -> None:
    server = Server({"default": {"noop": lambda ns, msg: None, "echo": echo}}, reply_to_unanswered_asks=False)
    peer = await raw(await serve(server))
    await peer.connect("default")
    await peer.send("$silent;default;;noop;0;0;")
    # The next frame answers the next ask: nothing was sent for the first one.
    assert await peer.ask("default", "echo", "x") == "$raw2;default;;echo;0;0;x"
