"""`Server`: the handshake (vectors 1-3 and 37), on_connect, server asks, broadcasts, bookkeeping."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from aiohttp import web

from aioneffos.framework import (
    AskTimeoutError,
    Conn,
    ConnectionRefusedByPeerError,
    Message,
    NoRecipientError,
    NSConn,
    RemoteError,
    Server,
    WriteClosedError,
)
from support.serving import Dial, RawConnect, Serve
from support.waiting import Inbox, wait_for


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


def echo_server(**kwargs: object) -> Server:
    return Server({"default": {"echo": echo}}, **kwargs)  # type: ignore[arg-type]


# -- handshake -------------------------------------------------------------------


async def test_handshake_ack_is_a_and_generated_id(serve: Serve, raw: RawConnect) -> None:
    url = await serve(echo_server(id_generator=lambda request: "conn-1"))
    peer = await raw(url, handshake=False)
    await peer.send("M")
    assert await peer.recv() == "Aconn-1"


async def test_handshake_async_id_generator_sees_request(serve: Serve, raw: RawConnect) -> None:
    async def from_query(request: web.Request) -> str:
        return "user-" + request.query["name"]

    url = await serve(echo_server(id_generator=from_query))
    peer = await raw(url + "?name=ann", handshake=False)
    await peer.send("M")
    assert await peer.recv() == "Auser-ann"


async def test_handshake_default_id_is_uuid4(serve: Serve, raw: RawConnect) -> None:
    peer = await raw(await serve(echo_server()))
    assert uuid.UUID(peer.id).version == 4


async def test_handshake_on_connect_refusal_sends_h_text_then_close_1008(
    serve: Serve, raw: RawConnect
) -> None:
    def refuse(conn: Conn) -> None:
        raise PermissionError("rejected by server")

    peer = await raw(await serve(echo_server(on_connect=refuse)), handshake=False)
    await peer.send("M")
    assert await peer.recv() == "Hrejected by server"
    assert await peer.recv_close() == (1008, "rejected by server")


async def test_handshake_on_connect_refusal_without_text_sends_class_name(
    serve: Serve, raw: RawConnect
) -> None:
    async def refuse(conn: Conn) -> None:
        raise PermissionError

    peer = await raw(await serve(echo_server(on_connect=refuse)), handshake=False)
    await peer.send("M")
    assert await peer.recv() == "HPermissionError"


async def test_handshake_refusal_raises_connection_refused_in_python_client(
    serve: Serve, clients: Dial
) -> None:
    def refuse(conn: Conn) -> None:
        raise PermissionError("rejected by server")

    url = await serve(echo_server(on_connect=refuse))
    with pytest.raises(ConnectionRefusedByPeerError, match=r"^rejected by server$"):
        await clients(url)


async def test_handshake_refused_connection_never_fires_on_disconnect(
    serve: Serve, raw: RawConnect, clients: Dial
) -> None:
    disconnected = Inbox()
    ids = iter(["refused", "accepted"])

    def refuse_first(conn: Conn) -> None:
        if conn.id == "refused":
            raise PermissionError("no")

    server = echo_server(
        on_connect=refuse_first, on_disconnect=disconnected.put, id_generator=lambda r: next(ids)
    )
    url = await serve(server)
    peer = await raw(url, handshake=False)
    await peer.send("M")
    assert await peer.recv_close() == (1008, "no")
    await (await clients(url)).close()
    assert ((await disconnected.get()).id, server.total_connections) == ("accepted", 0)


async def test_handshake_spoofed_ack_is_ignored_and_real_id_sent(serve: Serve, raw: RawConnect) -> None:
    # Vector 37: Go would take "spoofed-id" as the connection id and never send A.
    ids = iter(["bystander", "real-id"])
    server = echo_server(id_generator=lambda request: next(ids))
    url = await serve(server)
    other = await raw(url)
    await other.connect("default")
    peer = await raw(url, handshake=False)
    await peer.send("Aspoofed-id")
    await peer.send("M")
    assert await peer.recv() == "Areal-id"
    assert sorted(c.id for c in server.connections) == ["bystander", "real-id"]
    await peer.connect("default")
    assert await peer.ask("default", "echo", "alive") == "$raw2;default;;echo;0;0;alive"
    assert await other.ask("default", "echo", "served") == "$raw2;default;;echo;0;0;served"


async def test_handshake_hello_before_m_keeps_connection(serve: Serve, raw: RawConnect) -> None:
    # neffos issue #21: Go closes a client whose first frame starts with H.
    ids = iter(["bystander", "c1"])
    url = await serve(echo_server(id_generator=lambda r: next(ids)))
    other = await raw(url)
    await other.connect("default")
    peer = await raw(url, handshake=False)
    await peer.send("Hello")
    await peer.send("M")
    assert await peer.recv() == "Ac1"
    await peer.connect("default")
    assert await peer.ask("default", "echo", "alive") == "$raw2;default;;echo;0;0;alive"
    assert await other.ask("default", "echo", "served") == "$raw2;default;;echo;0;0;served"


async def test_handshake_frames_before_m_are_handled_after_ack(serve: Serve, raw: RawConnect) -> None:
    peer = await raw(await serve(echo_server(id_generator=lambda r: "c1")), handshake=False)
    await peer.send("$early;default;;_OnNamespaceConnect;0;0;")
    await peer.send("$ask;default;;echo;0;0;queued")
    await peer.send("M")
    assert [await peer.recv() for _ in range(3)] == [
        "Ac1",
        "$early;;;;;;",
        "$ask;default;;echo;0;0;queued",
    ]


async def test_handshake_on_connect_runs_before_ack(serve: Serve, raw: RawConnect) -> None:
    release = asyncio.Event()
    entered = Inbox()

    async def slow(conn: Conn) -> None:
        entered.put(conn.is_acknowledged)
        await release.wait()

    peer = await raw(await serve(echo_server(on_connect=slow, id_generator=lambda r: "c1")), handshake=False)
    await peer.send("M")
    assert await entered.get() is False
    release.set()
    assert await peer.recv() == "Ac1"


async def test_on_connect_server_initiated_connect_sends_ack_first(serve: Serve, raw: RawConnect) -> None:
    connected = Inbox()

    async def on_connect(conn: Conn) -> None:
        connected.put(await conn.connect("default"))

    url = await serve(echo_server(on_connect=on_connect, id_generator=lambda r: "c1"))
    peer = await raw(url, handshake=False)
    await peer.send("M")
    assert await peer.recv() == "Ac1"
    request = await peer.recv()
    assert isinstance(request, str)
    token, rest = request.split(";", 1)
    assert (token[:1].isdigit(), rest) == (True, "default;;_OnNamespaceConnect;0;0;")
    await peer.send(f"{token};;;;;;")
    ns = await connected.get()
    assert (ns.namespace, ns.is_connected) == ("default", True)
    assert await peer.ask("default", "echo", "x") == "$raw1;default;;echo;0;0;x"


async def test_on_connect_raising_after_ack_closes_1008_with_text(serve: Serve, raw: RawConnect) -> None:
    # docs/protocol.md#on-connect: once A went out (a server-initiated connect), a refusal can only close.
    async def on_connect(conn: Conn) -> None:
        conn.send_ack()
        raise PermissionError("changed my mind")

    peer = await raw(
        await serve(echo_server(on_connect=on_connect, id_generator=lambda r: "c1")), handshake=False
    )
    await peer.send("M")
    assert await peer.recv() == "Ac1"
    assert await peer.recv_close() == (1008, "changed my mind")


async def test_on_connect_server_initiated_connect_is_seen_by_python_client(
    serve: Serve, clients: Dial
) -> None:
    connected = Inbox()

    async def on_connect(conn: Conn) -> None:
        await conn.connect("default")

    def on_client_connected(ns: NSConn, msg: Message) -> None:
        connected.put((ns.namespace, msg.is_local))

    url = await serve(echo_server(on_connect=on_connect))
    conn = await clients(url, {"default": {"_OnNamespaceConnected": on_client_connected}})
    assert await connected.get() == ("default", False)
    ns = conn.namespace("default")
    assert ns is not None
    assert (await ns.ask("echo", "hi")).body == b"hi"


# -- close -----------------------------------------------------------------------


async def test_close_sends_1001_server_shutdown_to_every_peer(serve: Serve, raw: RawConnect) -> None:
    server = echo_server()
    url = await serve(server)
    first, second = await raw(url), await raw(url)
    await server.close()
    assert [await first.recv_close(), await second.recv_close()] == [
        (1001, "server shutdown"),
        (1001, "server shutdown"),
    ]


async def test_close_python_client_sees_1001(serve: Serve, clients: Dial) -> None:
    server = echo_server()
    conn = await clients(await serve(server))
    await server.close()
    await wait_for(conn.wait_closed())
    assert conn.close_code == 1001


async def test_close_fires_on_disconnect_and_empties_connections(serve: Serve, clients: Dial) -> None:
    disconnected = Inbox()
    server = echo_server(on_disconnect=disconnected.put, id_generator=lambda r: "c1")
    await clients(await serve(server))
    await server.close()
    assert (await disconnected.get()).id == "c1"
    assert server.total_connections == 0


# -- bookkeeping -----------------------------------------------------------------


async def test_connections_lists_live_connections(serve: Serve, clients: Dial) -> None:
    ids = iter(["a", "b"])
    server = echo_server(id_generator=lambda r: next(ids))
    url = await serve(server)
    await clients(url)
    await clients(url)
    assert (sorted(c.id for c in server.connections), server.total_connections) == (["a", "b"], 2)


async def test_connection_by_id_gives_server_side_conn(serve: Serve, clients: Dial) -> None:
    server = echo_server(id_generator=lambda r: "c1")
    client = await clients(await serve(server))
    found = server.connection("c1")
    assert found is not None
    assert (found.id, found.is_client, client.id, server.connection("nobody")) == ("c1", False, "c1", None)


async def test_total_connections_drops_when_client_leaves(serve: Serve, clients: Dial) -> None:
    disconnected = Inbox()
    server = echo_server(on_disconnect=disconnected.put)
    client = await clients(await serve(server))
    assert server.total_connections == 1
    await client.close()
    await disconnected.get()
    assert server.total_connections == 0


async def test_namespace_connections_lists_members(serve: Serve, clients: Dial) -> None:
    server = echo_server(id_generator=lambda r: "c1")
    client = await clients(await serve(server))
    assert list(server.namespace_connections("default")) == []
    await client.connect("default")
    assert [n.conn.id for n in server.namespace_connections("default")] == ["c1"]


async def test_do_calls_fn_with_every_connection(serve: Serve, clients: Dial) -> None:
    ids = iter(["a", "b"])
    server = echo_server(id_generator=lambda r: next(ids))
    url = await serve(server)
    await clients(url)
    await clients(url)
    seen: list[str] = []
    server.do(lambda conn: seen.append(conn.id))
    assert sorted(seen) == ["a", "b"]


async def test_store_increment_and_decrement_per_connection(serve: Serve, clients: Dial) -> None:
    async def count(ns: NSConn, msg: Message) -> str:
        store = ns.conn.store
        value = store.increment("n") if msg.body == b"up" else store.decrement("n")
        return str(value)

    url = await serve(Server({"default": {"count": count}}))
    ns = await (await clients(url)).connect("default")
    other = await (await clients(url)).connect("default")
    answers = [(await ns.ask("count", b)).body for b in ("up", "up", "up", "down")]
    assert (answers, (await other.ask("count", "up")).body) == ([b"1", b"2", b"3", b"2"], b"1")


async def test_on_disconnect_runs_after_namespaces_end(serve: Serve, clients: Dial) -> None:
    order: list[str] = []
    done = Inbox()

    def ns_gone(ns: NSConn, msg: Message) -> None:
        order.append(f"ns:{msg.is_forced}")

    def conn_gone(conn: Conn) -> None:
        order.append(f"conn:{list(conn.namespaces)}")
        done.put(None)

    server = Server({"default": {"_OnNamespaceDisconnect": ns_gone}}, on_disconnect=conn_gone)
    client = await clients(await serve(server))
    await client.connect("default")
    await client.close()
    await done.get()
    assert order == ["ns:True", "conn:[]"]


# -- server ask ------------------------------------------------------------------


async def test_ask_to_id_returns_the_clients_reply(serve: Serve, clients: Dial) -> None:
    def answer(ns: NSConn, msg: Message) -> str:
        return "fine, thanks " + ns.conn.id

    ids = iter(["a", "b"])
    server = echo_server(id_generator=lambda r: next(ids))
    url = await serve(server)
    for _ in range(2):
        await (await clients(url, {"default": {"question": answer}})).connect("default")
    reply = await server.ask(Message("default", "question", b"how are you?", to="b"))
    assert (reply.body, reply.err) == (b"fine, thanks b", None)


async def test_ask_first_reply_wins_and_later_reply_is_dropped(serve: Serve, clients: Dial) -> None:
    release = asyncio.Event()
    answered = Inbox()

    async def slow(ns: NSConn, msg: Message) -> str:
        await release.wait()
        answered.put("slow")
        return "slow"

    def fast(ns: NSConn, msg: Message) -> str:
        return "fast"

    server = echo_server(id_generator=lambda r: "same")
    url = await serve(server)
    slow_ns = await (await clients(url, {"default": {"question": slow, "echo": echo}})).connect("default")
    await (await clients(url, {"default": {"question": fast}})).connect("default")
    reply = await server.ask(Message("default", "question", to="same"))
    release.set()
    assert (reply.body, await answered.get()) == (b"fast", "slow")
    # The late reply was dropped quietly: the slow connection is still served.
    assert (await slow_ns.ask("echo", "after")).body == b"after"


async def test_ask_without_recipient_raises_no_recipient(serve: Serve, clients: Dial) -> None:
    server = echo_server()
    await (await clients(await serve(server))).connect("default")
    with pytest.raises(NoRecipientError, match="no connection matches an ask of 'default'/'question'"):
        await server.ask(Message("default", "question", to="nobody"))


async def test_ask_unanswered_raises_ask_timeout(serve: Serve, raw: RawConnect) -> None:
    server = echo_server(id_generator=lambda r: "c1")
    peer = await raw(await serve(server))
    await peer.connect("default")
    with pytest.raises(AskTimeoutError, match=re.escape("no reply to 'question' from 'c1' within 0.2s")):
        await server.ask(Message("default", "question", to="c1"), timeout=0.2)
    request = await peer.recv()
    assert isinstance(request, str)
    assert request.endswith(";default;;question;0;0;")


async def test_ask_timeout_removes_waiter_so_late_reply_is_dropped(serve: Serve, raw: RawConnect) -> None:
    server = echo_server(id_generator=lambda r: "c1")
    peer = await raw(await serve(server))
    await peer.connect("default")
    with pytest.raises(AskTimeoutError):
        await server.ask(Message("default", "echo", b"q", to="c1"), timeout=0.1)
    request = await peer.recv()
    assert isinstance(request, str)
    token = request.split(";", 1)[0]
    # A reply after the timeout carries a token the server made: it is a late reply, dropped,
    # never dispatched as a new event. The next frame is the answer to the next ask.
    await peer.send(f"{token};default;;echo;0;0;late")
    assert await peer.ask("default", "echo", "next") == f"{peer.token_last()};default;;echo;0;0;next"


async def test_ask_error_reply_raises_remote_error(serve: Serve, clients: Dial) -> None:
    def fail(ns: NSConn, msg: Message) -> None:
        raise ValueError("custom; failure")

    server = echo_server()
    await (await clients(await serve(server), {"default": {"question": fail}})).connect("default")
    with pytest.raises(RemoteError, match=r"^custom; failure$"):
        await server.ask(Message("default", "question"))


async def test_ask_to_peer_that_disconnects_raises_write_closed_promptly(
    serve: Serve, raw: RawConnect
) -> None:
    server = echo_server(id_generator=lambda r: "c1")
    peer = await raw(await serve(server))
    await peer.connect("default")
    asking = asyncio.ensure_future(server.ask(Message("default", "question", to="c1"), timeout=30))
    await peer.recv()
    await peer.close()
    with pytest.raises(WriteClosedError):
        await wait_for(asking, 3)


# -- broadcast -------------------------------------------------------------------


async def test_broadcast_exclude_id_skips_every_conn_with_that_id(serve: Serve, clients: Dial) -> None:
    ids = iter(["x", "x", "y"])
    got = Inbox()
    server = echo_server(id_generator=lambda r: next(ids))
    url = await serve(server)
    for _ in range(3):
        client = await clients(url, {"default": {"news": lambda ns, msg: got.put((ns.conn.id, msg.body))}})
        await client.connect("default")
    server.broadcast(Message("default", "news", b"1"), exclude="x")
    server.broadcast(Message("default", "news", b"2"), exclude=None)
    received = sorted([await got.get() for _ in range(4)])
    assert received == [("x", b"2"), ("x", b"2"), ("y", b"1"), ("y", b"2")]


async def test_broadcast_clears_wait_token(serve: Serve, raw: RawConnect) -> None:
    server = echo_server()
    peer = await raw(await serve(server))
    await peer.connect("default")
    server.broadcast(Message("default", "news", b"n", wait="$stolen"))
    assert await peer.recv() == ";default;;news;0;0;n"


async def test_broadcast_to_id_reaches_only_that_id(serve: Serve, raw: RawConnect) -> None:
    ids = iter(["a", "b"])
    server = echo_server(id_generator=lambda r: next(ids))
    url = await serve(server)
    a, b = await raw(url), await raw(url)
    await a.connect("default")
    await b.connect("default")
    server.broadcast(Message("default", "news", b"for b", to="b"))
    server.broadcast(Message("default", "news", b"for all"))
    assert [await a.recv(), await b.recv(), await b.recv()] == [
        ";default;;news;0;0;for all",
        ";default;;news;0;0;for b",
        ";default;;news;0;0;for all",
    ]
