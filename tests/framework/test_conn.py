"""`Conn`: ordering, asks from handlers on their own connection, native-only mode, closing mid-ask."""

from __future__ import annotations

import asyncio

import pytest

from aioneffos.framework import (
    AskTimeoutError,
    Conn,
    Message,
    NSConn,
    Server,
    WriteClosedError,
)
from support.serving import AppServer, Dial, RawConnect, Serve
from support.waiting import Inbox, wait_for


async def test_emits_from_one_client_are_handled_in_order(serve: Serve, clients: Dial) -> None:
    seen: list[int] = []
    done = Inbox()

    async def count(ns: NSConn, msg: Message) -> None:
        await asyncio.sleep(0)  # give a chance to reorder, which must not happen
        seen.append(int(msg.body))
        if len(seen) == 200:
            done.put(None)

    ns = await (await clients(await serve(Server({"default": {"count": count}})))).connect("default")
    for i in range(200):
        ns.emit("count", str(i))
    await done.get()
    assert seen == list(range(200))


async def test_handler_asking_own_connection_while_client_emits_keeps_order(
    serve: Serve, clients: Dial
) -> None:
    seen: list[str] = []
    done = Inbox()

    async def step(ns: NSConn, msg: Message) -> None:
        if msg.body == b"ask":
            answer = await ns.ask("question", b"?")
            seen.append("answer:" + answer.text)
        else:
            seen.append(msg.text)
        if len(seen) == 52:
            done.put(None)

    server = Server({"default": {"step": step}})
    client = await clients(await serve(server), {"default": {"question": lambda ns, msg: "42"}})
    ns = await client.connect("default")
    for i in range(25):
        ns.emit("step", str(i))
    ns.emit("step", "ask")
    for i in range(25, 50):
        ns.emit("step", str(i))
    ns.emit("step", "ask")
    await done.get()
    assert seen == [str(i) for i in range(25)] + ["answer:42"] + [str(i) for i in range(25, 50)] + [
        "answer:42"
    ]


async def test_handler_asking_own_connection_with_backlog_over_limit_does_not_deadlock(
    serve: Serve, clients: Dial
) -> None:
    seen: list[str] = []
    done = Inbox()

    async def step(ns: NSConn, msg: Message) -> None:
        if msg.body == b"ask":
            seen.append("answer:" + (await ns.ask("question")).text)
        else:
            seen.append(msg.text)
        if len(seen) == 21:
            done.put(None)

    server = Server({"default": {"step": step}}, inbound_backlog_size=4)
    client = await clients(await serve(server), {"default": {"question": lambda ns, msg: "ok"}})
    ns = await client.connect("default")
    ns.emit("step", "ask")
    for i in range(20):
        ns.emit("step", str(i))
    await done.get()
    assert seen == ["answer:ok"] + [str(i) for i in range(20)]


async def test_client_handler_asking_server_does_not_deadlock(serve: Serve, clients: Dial) -> None:
    got = Inbox()

    async def on_push(ns: NSConn, msg: Message) -> None:
        got.put((await ns.ask("echo", b"from client handler")).body)

    async def push(ns: NSConn, msg: Message) -> None:
        ns.emit("push")

    server = Server({"default": {"echo": lambda ns, msg: msg.body, "push": push}})
    client = await clients(await serve(server), {"default": {"push": on_push}})
    (await client.connect("default")).emit("push")
    assert await got.get() == b"from client handler"


async def test_conn_ask_timeout_raises_ask_timeout(serve: Serve, clients: Dial) -> None:
    release = asyncio.Event()

    async def stall(ns: NSConn, msg: Message) -> None:
        await release.wait()

    ns = await (await clients(await serve(Server({"default": {"stall": stall}})))).connect("default")
    with pytest.raises(AskTimeoutError, match=r"^no reply to 'stall' from '.+' within 0\.1s$"):
        await ns.ask("stall", timeout=0.1)
    release.set()


async def test_peer_disconnecting_mid_ask_raises_write_closed_promptly(
    app_server: AppServer, raw: RawConnect
) -> None:
    # A production-like server: aiohttp's test server would cancel the request task instead.
    outcome = Inbox()

    async def relay(ns: NSConn, msg: Message) -> None:
        try:
            await ns.ask("question", timeout=30)
        except WriteClosedError as exc:
            outcome.put(type(exc))

    url = await app_server.start(Server({"default": {"relay": relay, "echo": lambda ns, msg: msg.body}}))
    other = await raw(url)
    await other.connect("default")
    peer = await raw(url)
    await peer.connect("default")
    await peer.send(";default;;relay;0;0;")
    await peer.recv()  # the server's question, never answered
    await peer.close()
    assert await outcome.get(timeout=3) is WriteClosedError
    assert await other.ask("default", "echo", "served") == "$raw2;default;;echo;0;0;served"


async def test_client_ask_when_server_goes_away_raises_write_closed(serve: Serve, clients: Dial) -> None:
    release = asyncio.Event()
    entered = Inbox()

    async def stall(ns: NSConn, msg: Message) -> None:
        entered.put(None)
        await release.wait()

    server = Server({"default": {"stall": stall}}, close_timeout=0.5)
    ns = await (await clients(await serve(server))).connect("default")
    asking = asyncio.ensure_future(ns.ask("stall", timeout=30))
    await entered.get()
    await server.close()
    release.set()
    with pytest.raises(WriteClosedError):
        await wait_for(asking, 3)


async def test_ask_on_closed_conn_raises_write_closed(serve: Serve, clients: Dial) -> None:
    conn = await clients(await serve(Server({"default": {}})))
    await conn.close()
    with pytest.raises(WriteClosedError):
        await conn.ask(Message("default", "x"))


async def test_conn_close_is_idempotent(serve: Serve, clients: Dial) -> None:
    conn = await clients(await serve(Server({"default": {}})))
    await conn.close()
    await conn.close()
    assert conn.is_closed is True


async def test_server_conn_close_reaches_client_with_code(serve: Serve, raw: RawConnect) -> None:
    async def kick(ns: NSConn, msg: Message) -> None:
        ns.conn.fire_and_forget(lambda: ns.conn.close(4000, "bye"))

    peer = await raw(await serve(Server({"default": {"kick": kick}})))
    await peer.connect("default")
    await peer.send(";default;;kick;0;0;")
    assert await peer.recv_close() == (4000, "bye")


async def test_server_write_to_namespace_not_connected_is_refused(serve: Serve, clients: Dial) -> None:
    conns = Inbox()
    server = Server({"default": {}}, on_connect=conns.put)
    await clients(await serve(server))
    conn: Conn = await conns.get()
    assert conn.write(Message("default", "chat", b"x")) is False


# -- native messages ---------------------------------------------------------------


def native_only_server(got: Inbox) -> Server:
    def on_native(ns: NSConn, msg: Message) -> bytes:
        got.put((msg.body, msg.is_binary, msg.is_native))
        return b"native-echo:" + msg.body

    return Server({"": {"_OnNativeMessage": on_native}})


async def test_native_only_mode_needs_no_handshake_and_echoes_raw(serve: Serve, raw: RawConnect) -> None:
    got = Inbox()
    peer = await raw(await serve(native_only_server(got)), handshake=False)
    await peer.send("raw hello")
    assert (await got.get(), await peer.recv()) == ((b"raw hello", False, True), "native-echo:raw hello")


async def test_native_only_mode_delivers_m_as_native(serve: Serve, raw: RawConnect) -> None:
    got = Inbox()
    peer = await raw(await serve(native_only_server(got)), handshake=False)
    await peer.send("M")
    assert (await got.get(), await peer.recv()) == ((b"M", False, True), "native-echo:M")


async def test_native_only_mode_binary_frames_stay_binary(serve: Serve, raw: RawConnect) -> None:
    got = Inbox()
    peer = await raw(await serve(native_only_server(got)), handshake=False)
    await peer.send(b"\x00\xff")
    assert (await got.get(), await peer.recv()) == ((b"\x00\xff", True, True), b"native-echo:\x00\xff")


async def test_native_only_mode_server_write_is_raw(serve: Serve, raw: RawConnect) -> None:
    got = Inbox()
    conns = Inbox()
    server = native_only_server(got)
    server.on_connect = conns.put
    peer = await raw(await serve(server), handshake=False)
    conn: Conn = await conns.get()
    assert conn.write(Message(body=b"pushed raw", is_native=True)) is True
    assert await peer.recv() == "pushed raw"


async def test_native_handler_beside_namespaces_gets_seven_field_form(serve: Serve, raw: RawConnect) -> None:
    # Not native-only: the peer handshakes, connects "" and native data travels as
    # ";;;_OnNativeMessage;0;0;<body>" (vector 29), never raw
    # (docs/protocol.md#native-messages).
    got = Inbox()

    def on_native(ns: NSConn, msg: Message) -> bytes:
        got.put(msg.body)
        return b"seven-field native"

    server = Server({"": {"_OnNativeMessage": on_native}, "default": {}})
    peer = await raw(await serve(server))
    await peer.connect("")
    await peer.send("raw hello")
    assert (await got.get(), await peer.recv()) == (
        b"raw hello",
        ";;;_OnNativeMessage;0;0;seven-field native",
    )
