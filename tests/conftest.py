"""Fixtures shared by every test package: real aiohttp servers on ephemeral ports, clients
that clean up, raw websocket peers (their types are in `support.serving`)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aioneffos.controllers import BaseApplication
from aioneffos.framework import Conn, Server, dial, handler, setup
from support.peers import RawPeer
from support.serving import SMALL_BUFFER, AppServer, Dial, RawConnect, Serve, ServeMvc


@pytest.fixture
def serve(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Serve:
    """Start *server* (mounted at *path* of a fresh or given app) on a free port; give its ws:// URL.

    The app runs the server's startup and shutdown hooks, so teardown closes every
    connection with 1001 as a real deployment would.
    """

    async def start(
        server: Server | None = None, *, app: web.Application | None = None, path: str = "/ws"
    ) -> str:
        app = app if app is not None else web.Application()
        if server is not None:
            app.router.add_get(path, handler(server))
            setup(app, server)
        test_server = await aiohttp_server(app)
        return str(test_server.make_url(path).with_scheme("ws"))

    return start


@pytest.fixture
def serve_mvc(serve: Serve) -> ServeMvc:
    """Serve an MVC application as the seed does (``Server(mvc_app)`` at the prefix); give its URL."""

    async def start(mvc_app: BaseApplication, **options: Any) -> str:
        server = Server(mvc_app, **options)
        mvc_app.router.add_get("/", handler(server))
        setup(mvc_app.app, server)
        return await serve(app=mvc_app.app, path=mvc_app.router.url("/"))

    return start


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session closed at teardown."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def raw(session: aiohttp.ClientSession) -> RawConnect:
    """Open a `RawPeer` to *url*; with ``handshake=True`` (the default) it is acked first."""

    async def open_peer(url: str, *, handshake: bool = True, **ws_kwargs: Any) -> RawPeer:
        ws = await session.ws_connect(url, autoping=True, **ws_kwargs)
        peer = RawPeer(ws)
        if handshake:
            await peer.handshake()
        return peer

    return open_peer


def _small_buffer_socket(addr_info: Any) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    return sock


@pytest.fixture
async def tiny_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose sockets have a 4 KiB receive buffer."""
    connector = aiohttp.TCPConnector(socket_factory=_small_buffer_socket, force_close=True)
    async with aiohttp.ClientSession(connector=connector, read_bufsize=SMALL_BUFFER) as session:
        yield session


@pytest.fixture
async def clients() -> AsyncIterator[Dial]:
    """Dial our Python client (declaring namespace ``default`` unless told); closed at teardown."""
    opened: list[Conn] = []

    async def open_client(url: str, namespaces: Any = None, **kwargs: Any) -> Conn:
        conn = await dial(url, namespaces if namespaces is not None else {"default": {}}, **kwargs)
        opened.append(conn)
        return conn

    yield open_client
    for conn in opened:
        await conn.close()


@pytest.fixture
async def app_server() -> AsyncIterator[AppServer]:
    """An `AppServer`, stopped at teardown."""
    served = AppServer()
    yield served
    await served.stop()
