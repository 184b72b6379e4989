"""Fixtures of the framework suite: raw websocket peers and Python clients that clean up."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from aioneffos.framework import Conn, Server, dial, handler, setup
from support.tools import free_port
from tests.framework.peers import RawPeer

RawConnect = Callable[..., Awaitable[RawPeer]]
Dial = Callable[..., Awaitable[Conn]]


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


SMALL_BUFFER = 4096
"""Socket buffer of a peer on a congested link: it soon stops taking data."""


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


class AppServer:
    """A production-like aiohttp server (``AppRunner`` + ``TCPSite``, no handler
    cancellation) on one fixed free port, so it can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        self._runner: web.AppRunner | None = None

    async def start(self, server: Server) -> str:
        """Serve *server* at ``/ws`` on this port; give the ws:// URL."""
        app = web.Application()
        app.router.add_get("/ws", handler(server))
        setup(app, server)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._runner = runner
        return self.url

    async def stop(self) -> None:
        """Shut down (the server closes every connection with 1001)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


@pytest.fixture
async def app_server() -> AsyncIterator[AppServer]:
    """An `AppServer`, stopped at teardown."""
    served = AppServer()
    yield served
    await served.stop()
