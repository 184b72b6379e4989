"""Native messages: every frame of a native-only peer is native; broadcasts reach them raw.

See docs/protocol.md#native-only."""

from __future__ import annotations

import asyncio

import aiohttp

from aioneffos.framework import ON_NATIVE_MESSAGE, Conn, Events, Message, NSConn, Server, get_server
from support.waiting import TIMEOUT


def relay(ns: NSConn, msg: Message) -> None:
    get_server(ns.conn).broadcast(msg, exclude=ns)


async def test_native_broadcast_reaches_native_only_peers_as_raw_frames(serve) -> None:
    connected: asyncio.Queue[Conn] = asyncio.Queue()
    server = Server(Events({ON_NATIVE_MESSAGE: relay}), on_connect=connected.put_nowait)
    url = await serve(server)
    async with aiohttp.ClientSession() as session:
        sender = await session.ws_connect(url)
        receiver = await session.ws_connect(url)
        async with asyncio.timeout(TIMEOUT):
            for _ in range(2):
                await connected.get()
            await sender.send_str("hello; there")
            got = await receiver.receive()
        await sender.close()
        await receiver.close()

    assert (got.type, got.data) == (aiohttp.WSMsgType.TEXT, "hello; there")


async def test_native_broadcast_keeps_the_seven_field_form_for_neffos_peers(serve, raw) -> None:
    server = Server({"": {ON_NATIVE_MESSAGE: relay}, "chat": {}})
    url = await serve(server)
    receiver = await raw(url)
    await receiver.connect("")
    sender = await raw(url)
    await sender.connect("")

    await sender.send("hello")

    assert await receiver.recv() == f";;;{ON_NATIVE_MESSAGE};0;0;hello"


def echo(ns: NSConn, msg: Message) -> bytes:
    return b"got:" + msg.body


async def test_native_only_frame_with_six_separators_reaches_the_handler_whole(serve, raw) -> None:
    peer = await raw(await serve(Server(Events({ON_NATIVE_MESSAGE: echo}))), handshake=False)

    await peer.send("$1;;;_OnNamespaceConnect;0;0;")
    await peer.send(b"a;b;c;d;e;f;\xff")

    assert await peer.recv() == "got:$1;;;_OnNamespaceConnect;0;0;"
    assert await peer.recv() == b"got:a;b;c;d;e;f;\xff"
