"""aiohttp glue: the HEAD probe, requests after close, header query parameters, reconnect header."""

from __future__ import annotations

import inspect

import aiohttp
import pytest
from aiohttp import web

from aioneffos.framework import SERVER_KEY, Conn, Server, get_request, handler, setup
from aioneffos.framework.protocol import Frame
from aioneffos.framework.websocket import server_frame
from support.serving import Dial, RawConnect, Serve
from support.waiting import Inbox


def _http(url: str) -> str:
    return "http" + url.removeprefix("ws")


async def test_head_probe_answers_204(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(Server({"default": {}}))
    async with session.head(_http(url)) as response:
        assert (response.status, await response.read()) == (204, b"")


async def test_head_probe_answers_503_after_close(serve: Serve, session: aiohttp.ClientSession) -> None:
    server = Server({"default": {}})
    url = await serve(server)
    await server.close()
    async with session.head(_http(url)) as response:
        assert response.status == 503


async def test_get_after_close_answers_503(serve: Serve, session: aiohttp.ClientSession) -> None:
    server = Server({"default": {}})
    url = await serve(server)
    await server.close()
    async with session.get(_http(url)) as response:
        assert (response.status, await response.text()) == (503, "websocket server is closed")


async def test_upgrade_after_close_fails(serve: Serve, session: aiohttp.ClientSession) -> None:
    server = Server({"default": {}})
    url = await serve(server)
    await server.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await session.ws_connect(url)
    assert caught.value.status == 503


async def test_header_query_params_become_request_headers(serve: Serve, raw: RawConnect) -> None:
    seen = Inbox()

    def on_connect(conn: Conn) -> None:
        request = get_request(conn)
        seen.put((request.headers.get("X-Username"), request.headers.get("X-Token")))

    url = await serve(Server({"default": {}}, on_connect=on_connect))
    await raw(url + "?X-Websocket-Header-X-Username=alice&x-websocket-header-X-Token=t%201&other=1")
    assert await seen.get() == ("alice", "t 1")


async def test_header_query_param_without_name_is_ignored(serve: Serve, raw: RawConnect) -> None:
    seen = Inbox()

    def on_connect(conn: Conn) -> None:
        seen.put(sorted(k for k in get_request(conn).headers if k.lower().startswith("x-")))

    url = await serve(Server({"default": {}}, on_connect=on_connect))
    await raw(url + "?X-Websocket-Header-=nothing")
    assert await seen.get() == []


async def test_id_generator_sees_header_query_params(serve: Serve, raw: RawConnect) -> None:
    server = Server({"default": {}}, id_generator=lambda request: request.headers["X-Username"])
    peer = await raw(await serve(server) + "?X-Websocket-Header-X-Username=alice")
    assert peer.id == "alice"


@pytest.mark.parametrize(("header", "tries"), [("3", 3), ("not a number", 0), ("-2", 0)])
async def test_reconnect_header_gives_reconnect_tries(
    serve: Serve, raw: RawConnect, header: str, tries: int
) -> None:
    seen = Inbox()
    url = await serve(
        Server({"default": {}}, on_connect=lambda c: seen.put((c.reconnect_tries, c.was_reconnected)))
    )
    await raw(url, headers={"X-Websocket-Reconnect": header})
    assert await seen.get() == (tries, tries > 0)


async def test_get_request_of_client_conn_raises_type_error(serve: Serve, clients: Dial) -> None:
    conn = await clients(await serve(Server({"default": {}})))
    with pytest.raises(TypeError, match="has no upgrade request"):
        get_request(conn)


async def test_id_generator_http_exception_refuses_upgrade(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    def deny(request: web.Request) -> str:
        raise web.HTTPForbidden(text="who are you")

    url = await serve(Server({"default": {}}, id_generator=deny))
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await session.ws_connect(url)
    assert caught.value.status == 403


async def test_handler_id_generator_overrides_server_one(serve: Serve, raw: RawConnect) -> None:
    server = Server({"default": {}}, id_generator=lambda r: "from-server")
    app = web.Application()
    app.router.add_get("/ws", handler(server, id_generator=lambda r: "from-handler"))
    setup(app, server)
    peer = await raw(await serve(app=app))
    assert peer.id == "from-handler"


async def test_setup_stores_server_under_app_key() -> None:
    server = Server({"default": {}})
    app = web.Application()
    setup(app, server)
    assert app[SERVER_KEY] is server


async def test_server_sink_finds_the_aiohttp_internals_it_relies_on(serve: Serve, raw: RawConnect) -> None:
    # The server writes pre-framed bytes to the transport and, when it is full, waits the way
    # aiohttp's own writer does: BaseProtocol.writing_paused and BaseProtocol._drain_helper()
    # are private. This fails loudly (here, not in a slow-consumer test) if a release drops them.
    seen = Inbox()

    def on_connect(conn: Conn) -> None:
        protocol = get_request(conn).protocol
        seen.put((type(protocol.writing_paused), inspect.iscoroutinefunction(protocol._drain_helper)))

    url = await serve(Server({"default": {}}, on_connect=on_connect))
    await raw(url)

    assert await seen.get() == (bool, True)


@pytest.mark.parametrize(
    ("size", "header"),
    [
        pytest.param(125, b"\x81\x7d", id="7-bit"),
        pytest.param(126, b"\x81\x7e\x00\x7e", id="16-bit"),
        pytest.param(65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", id="64-bit"),
    ],
)
def test_server_frame_has_exact_unmasked_header(size: int, header: bytes) -> None:
    payload = b"a" * size
    assert server_frame(Frame(payload, True)) == header + payload


def test_server_frame_of_binary_frame_uses_opcode_2() -> None:
    assert server_frame(Frame(b"\x00", False)) == b"\x82\x01\x00"


def test_server_frame_is_made_once_per_frame() -> None:
    # A broadcast shares one Frame among its recipients: it is framed for the first only.
    frame = Frame(b"hello", True)

    assert server_frame(frame) is server_frame(frame) is frame.wire
