"""The Python client's close: the close handshake before the socket ends, so the server sees
1000 (not 1006), and a bounded wait for a server that never answers."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import WSMsgType, web

from aioneffos.framework import Conn, Message, NSConn, Server, dial, dial_memory
from support.serving import Dial, Serve
from support.waiting import Inbox, wait_for

TICKS = 200


async def flood(ns: NSConn, msg: Message) -> None:
    """Send the client *TICKS* messages, one per turn of the loop, until it closes."""
    for _ in range(TICKS):
        if ns.conn.is_closed:
            return
        ns.emit("tick", b"x" * 1000)
        await asyncio.sleep(0)


def ended_server(gone: Inbox) -> Server:
    """A server that reports each connection's close code and its own close, once torn down."""

    def ended(conn: Conn) -> None:
        gone.put((conn.close_code, conn.closed_with))

    return Server({"default": {"flood": flood}}, on_disconnect=ended)


async def test_a_client_close_reaches_the_server_as_1000(serve: Serve, clients: Dial) -> None:
    gone = Inbox()
    conn = await clients(await serve(ended_server(gone)))
    await conn.connect("default")
    await conn.close()
    assert (await gone.get(), conn.close_code) == ((1000, None), 1000)


async def test_a_client_close_with_frames_in_flight_reaches_the_server_as_1000(
    serve: Serve, clients: Dial
) -> None:
    # The frames the server still sends are unread when the client closes: cutting the socket
    # then (before the server's close frame came) reset the connection, and the server saw 1006.
    gone, ticks = Inbox(), Inbox()
    conn = await clients(await serve(ended_server(gone)), {"default": {"tick": ticks.handler}})
    ns = await conn.connect("default")
    ns.emit("flood", b"")
    await ticks.get()
    await conn.close()
    assert (await gone.get(), conn.close_code) == ((1000, None), 1000)
    assert len(ticks.entries) < TICKS  # the close came while frames were in flight


async def test_a_client_close_also_completes_with_a_session_of_its_own(
    serve: Serve, clients: Dial, session: aiohttp.ClientSession
) -> None:
    gone = Inbox()
    conn = await clients(await serve(ended_server(gone)), session=session)
    await conn.close()
    assert (await gone.get(), conn.close_code, session.closed) == ((1000, None), 1000, False)


async def test_a_client_close_to_a_server_that_never_answers_ends_within_close_timeout(serve: Serve) -> None:
    seen, done = Inbox(), asyncio.Event()

    async def deaf(request: web.Request) -> web.WebSocketResponse:
        """Read the client's close frame; answer nothing until the client's close returned."""
        ws = web.WebSocketResponse(autoclose=False)
        await ws.prepare(request)
        msg = await ws.receive()
        seen.put((msg.type, msg.data))
        await done.wait()
        return ws

    app = web.Application()
    app.router.add_get("/ws", deaf)
    url = await serve(app=app)
    native = {"": {"_OnNativeMessage": lambda ns, msg: None}}  # no handshake: any websocket server
    conn = await dial(url, native, close_timeout=0.2)
    await wait_for(conn.close())  # within the suite's 5 s: a close waiting for the answer fails
    done.set()
    assert (await seen.get(), conn.close_code) == ((WSMsgType.CLOSE, 1000), 1006)  # sent, then cut


async def test_a_memory_client_close_with_frames_in_flight_reaches_the_server_as_1000() -> None:
    # The in-memory transport had the handshake already: the same close, the same codes.
    gone, ticks = Inbox(), Inbox()
    conn = await dial_memory(ended_server(gone), {"default": {"tick": ticks.handler}})
    ns = await conn.connect("default")
    ns.emit("flood", b"")
    await ticks.get()
    await conn.close()
    assert (await gone.get(), conn.close_code) == ((1000, None), 1000)
