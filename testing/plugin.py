"""The pytest plugin of aioneffos, registered through the ``pytest11`` entry point.

Fixtures: ``neffos_client`` (in-memory clients, `Clients`) and ``neffos_aiohttp_client``
(clients over real sockets on pytest-aiohttp's ``aiohttp_client``, `SocketClients`). They
are async fixtures of pytest-asyncio (which pytest-aiohttp brings), so they work in its
``auto`` and ``strict`` modes alike.

Loading the plugin imports pytest and, when installed, pytest-asyncio (which pytest loads
anyway): aioneffos itself is imported only when a test asks for one of the fixtures, so a
project that does not use them pays nothing and cannot be broken by them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from .fixtures import Clients, SocketClients

HAS_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None

NEEDS_ASYNCIO = (
    "the aioneffos fixtures are async fixtures and need pytest-asyncio: "
    "pip install pytest-aiohttp (it brings pytest-asyncio)"
)

if HAS_ASYNCIO:
    from pytest_asyncio import fixture as async_fixture

    @async_fixture
    async def neffos_client() -> AsyncIterator[Clients]:
        """Open in-memory clients: ``conn = await neffos_client(server_or_app, namespaces=None,
        headers=..., query=..., remote=...)`` (`aioneffos.testing.connect` without ``async
        with``); every client closes at teardown, then the applications it ran stop."""
        from .fixtures import Clients

        clients = Clients()
        try:
            yield clients
        finally:
            await clients.aclose()

    @async_fixture
    async def neffos_aiohttp_client(aiohttp_client: Any) -> AsyncIterator[SocketClients]:
        """Open clients over real sockets: ``conn = await neffos_aiohttp_client(app_or_server,
        namespaces=None, path="/ws", headers=..., query=...)`` serves the app with
        pytest-aiohttp's ``aiohttp_client`` and dials it; the clients close at teardown."""
        from .fixtures import SocketClients

        clients = SocketClients(aiohttp_client)
        try:
            yield clients
        finally:
            await clients.aclose()

else:

    @pytest.fixture
    def neffos_client() -> NoReturn:
        """Fail: pytest-asyncio is missing."""
        pytest.fail(NEEDS_ASYNCIO)

    @pytest.fixture
    def neffos_aiohttp_client() -> NoReturn:
        """Fail: pytest-asyncio is missing."""
        pytest.fail(NEEDS_ASYNCIO)
