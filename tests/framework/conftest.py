"""Fixtures of the framework suite: raw websocket peers and Python clients that clean up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from aioneffos.framework import Conn, dial
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


@pytest.fixture
async def clients() -> AsyncIterator[Dial]:
    """Dial our Python client; every connection is closed at teardown."""
    opened: list[Conn] = []

    async def open_client(url: str, namespaces: Any = None, **kwargs: Any) -> Conn:
        conn = await dial(url, namespaces if namespaces is not None else {}, **kwargs)
        opened.append(conn)
        return conn

    yield open_client
    for conn in opened:
        await conn.close()
