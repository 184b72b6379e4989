"""Limits: message size, handshake timeout and frame cap, slow consumers; others keep being served."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp

from aioneffos.framework import Conn, Message, NSConn, Server, get_request
from support.peers import RawPeer
from support.serving import Dial, RawConnect, Serve
from support.waiting import Inbox

MIB = 1 << 20


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


def echo_server(**options: Any) -> Server:
    return Server({"default": {"echo": echo}}, **options)


async def bystander(url: str, raw: RawConnect) -> RawPeer:
    """A second, well-behaved client connected to ``default``."""
    peer = await raw(url)
    await peer.connect("default")
    return peer


async def assert_still_served(peer: RawPeer) -> None:
    """Prove *peer* is still served: an ask gets its exact answer."""
    tok = peer.token()
    await peer.send(f"{tok};default;;echo;0;0;still served")
    assert await peer.recv() == f"{tok};default;;echo;0;0;still served"


def ask_of_size(size: int) -> str:
    """A text ask frame of exactly *size* bytes."""
    head = "$big;default;;echo;0;0;"
    return head + "x" * (size - len(head))


# -- message size ---------------------------------------------------------------------


async def test_max_message_size_default_frame_of_1mib_is_answered(serve: Serve, raw: RawConnect) -> None:
    peer = await bystander(await serve(echo_server()), raw)
    frame = ask_of_size(MIB)
    await peer.send(frame)
    assert await peer.recv() == frame


async def test_max_message_size_default_bigger_frame_closes_1009(serve: Serve, raw: RawConnect) -> None:
    url = await serve(echo_server())
    other = await bystander(url, raw)
    peer = await bystander(url, raw)
    await peer.send(ask_of_size(MIB + 1))
    code, _ = await peer.recv_close()
    assert code == 1009
    await assert_still_served(other)


async def test_max_message_size_configured_frame_of_exact_size_is_answered(
    serve: Serve, raw: RawConnect
) -> None:
    peer = await bystander(await serve(echo_server(max_message_size=1024)), raw)
    await peer.send(ask_of_size(1024))
    assert await peer.recv() == ask_of_size(1024)


async def test_max_message_size_configured_bigger_frame_closes_1009(serve: Serve, raw: RawConnect) -> None:
    url = await serve(echo_server(max_message_size=1024))
    other = await bystander(url, raw)
    peer = await bystander(url, raw)
    await peer.send(ask_of_size(1025))
    code, _ = await peer.recv_close()
    assert code == 1009
    await assert_still_served(other)


async def test_max_message_size_applies_to_binary_frames(serve: Serve, raw: RawConnect) -> None:
    url = await serve(echo_server(max_message_size=1024))
    other = await bystander(url, raw)
    peer = await bystander(url, raw)
    await peer.send(ask_of_size(1025).encode())
    code, _ = await peer.recv_close()
    assert code == 1009
    await assert_still_served(other)


async def test_max_message_size_of_python_client_accepts_frame_of_exact_size(
    serve: Serve, clients: Dial
) -> None:
    conn = await clients(await serve(echo_server()), max_message_size=1024)
    ns = await conn.connect("default")
    body = "x" * (1024 - len("$2;default;;echo;0;0;"))
    assert (await ns.ask("echo", body)).body == body.encode()


async def test_max_message_size_of_python_client_closes_1009_on_big_frame(
    serve: Serve, raw: RawConnect
) -> None:
    from aioneffos.framework import dial

    closed = Inbox()
    url = await serve(echo_server(on_disconnect=closed.put))
    conn = await dial(url, {"default": {}}, max_message_size=1024)
    try:
        ns = await conn.connect("default")
        ns.emit("echo", "x" * 2000)
        await closed.get()
        assert conn.close_code == 1009
    finally:
        await conn.close()


# -- handshake ------------------------------------------------------------------------


async def test_handshake_timeout_closes_1008(serve: Serve, raw: RawConnect) -> None:
    url = await serve(echo_server(handshake_timeout=0.3))
    other = await bystander(url, raw)
    peer = await raw(url, handshake=False)
    assert await peer.recv_close() == (1008, "handshake timeout")
    await assert_still_served(other)


async def test_handshake_timeout_counts_frames_that_are_not_m(serve: Serve, raw: RawConnect) -> None:
    url = await serve(echo_server(handshake_timeout=0.3))
    peer = await raw(url, handshake=False)
    await peer.send("Hello")
    await peer.send(";default;;echo;0;0;x")
    assert await peer.recv_close() == (1008, "handshake timeout")


async def test_handshake_17_frames_before_m_closes_1008(serve: Serve, raw: RawConnect) -> None:
    url = await serve(echo_server())
    other = await bystander(url, raw)
    peer = await raw(url, handshake=False)
    for i in range(17):
        await peer.send(f"early {i}")
    assert await peer.recv_close() == (1008, "expected the neffos handshake (M)")
    await assert_still_served(other)


async def test_handshake_16_frames_before_m_are_held_and_invalid_ones_dropped(
    serve: Serve, raw: RawConnect
) -> None:
    url = await serve(echo_server(id_generator=lambda r: "c1"))
    peer = await raw(url, handshake=False)
    await peer.send("$c;default;;_OnNamespaceConnect;0;0;")
    for i in range(14):
        await peer.send(f"not a message {i}")
    await peer.send("$e;default;;echo;0;0;sixteenth")
    await peer.send("M")
    assert [await peer.recv() for _ in range(3)] == ["Ac1", "$c;;;;;;", "$e;default;;echo;0;0;sixteenth"]
    await assert_still_served(peer)


# -- slow consumer --------------------------------------------------------------------


async def test_slow_consumer_is_closed_1008_while_others_get_every_message(
    serve: Serve, raw: RawConnect, tiny_session: aiohttp.ClientSession
) -> None:
    conns = Inbox()

    def small_send_buffer(conn: Conn) -> None:
        request = get_request(conn)
        if "X-Slow" in request.headers:
            sock = request.transport.get_extra_info("socket")  # type: ignore[union-attr]
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        conns.put(conn)

    server = echo_server(outbound_queue_size=8, on_connect=small_send_buffer)
    url = await serve(server)
    slow = RawPeer(await tiny_session.ws_connect(url, headers={"X-Slow": "1"}))
    await slow.handshake()
    await slow.connect("default")
    slow_conn: Conn = await conns.get()
    fast = await bystander(url, raw)
    await conns.get()

    body = b"x" * (64 * 1024)
    count = 60
    received = 0
    for i in range(count):
        server.broadcast(Message("default", "news", body + str(i).encode()))
        frame = await fast.recv()
        assert frame == (b";default;;news;0;0;" + body + str(i).encode()).decode()
        received += 1
    assert (received, slow_conn.is_closed) == (count, True)
    assert await slow.recv_close() == (1008, "slow consumer")
    await assert_still_served(fast)


async def test_read_timeout_closes_idle_peer_1008(serve: Serve, raw: RawConnect) -> None:
    url = await serve(echo_server(read_timeout=0.3))
    peer = await bystander(url, raw)
    assert await peer.recv_close() == (1008, "read timeout")
