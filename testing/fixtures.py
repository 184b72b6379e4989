"""What the pytest fixtures give: `Clients` (in memory) and `SocketClients` (real sockets).

Both open clients with one call, ``conn = await clients(target, namespaces, ...)``, and
close them all at once (`aclose`, which the fixtures call at teardown), so a test needs no
``async with`` per client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from aioneffos.framework import Conn, Server, dial, handler, setup

from .client import MemoryClient, Target, client_namespaces, running, server_of
from .recorder import ClientHandlers

if TYPE_CHECKING:
    from aiohttp.test_utils import TestClient

AiohttpClient = Callable[[web.Application], Awaitable["TestClient[Any, Any]"]]
"""pytest-aiohttp's ``aiohttp_client`` fixture, as `SocketClients` uses it."""


class Clients:
    """In-memory clients of servers or applications (the ``neffos_client`` fixture).

    ``await clients(target, namespaces=None, **connect_options)`` is `connect` without the
    ``async with``: it gives the client `Conn`, closed by `aclose` (or earlier by `close`).
    An application *target* is run (`running`) from its first client until `aclose`, after
    its clients closed.
    """

    def __init__(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        self._running: dict[int, web.Application] = {}
        self._clients: dict[int, MemoryClient] = {}

    def __repr__(self) -> str:
        return f"<Clients {len(self._clients)} open, {len(self._running)} application(s) run>"

    async def __call__(
        self,
        target: Target,
        namespaces: ClientHandlers | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        remote: str = "127.0.0.1",
        path: str = "/ws",
        **options: Any,
    ) -> Conn:
        """Connect a client to *target* in memory and give it (see `connect`)."""
        __tracebackhide__ = True  # a failure points at the test's line
        server_of(target)  # a wrong target fails here, before an application starts
        if isinstance(target, web.Application) and id(target) not in self._running:
            await self._stack.enter_async_context(running(target))
            self._running[id(target)] = target
        client = await MemoryClient.open(
            target, namespaces, headers=headers, query=query, remote=remote, path=path, **options
        )
        self._clients[id(client.conn)] = client
        self._stack.push_async_callback(self._close, client.conn)
        return client.conn

    async def close(self, conn: Conn) -> None:
        """Close *conn* now and wait until the server has finished with it (its disconnect
        hooks and ``on_disconnect`` ran), as leaving `connect`'s block does; raise
        `TimeoutError` when it has not within `Options.close_timeout`."""
        __tracebackhide__ = True
        client = self._clients.pop(id(conn), None)
        if client is None:
            raise ValueError(f"{conn!r} is not a client these fixtures opened, or it is closed already")
        await client.close()

    async def _close(self, conn: Conn) -> None:
        client = self._clients.pop(id(conn), None)
        if client is not None:
            await client.close(strict=False)

    async def aclose(self) -> None:
        """Close every client, last opened first, then stop the applications that were run."""
        await self._stack.aclose()


class SocketClients:
    """Clients over real sockets, on pytest-aiohttp's ``aiohttp_client`` (the
    ``neffos_aiohttp_client`` fixture).

    ``await clients(target, namespaces=None, path="/ws", headers=None, query=None,
    **dial_options)`` serves *target* on a free port of 127.0.0.1 (once per test), dials
    it with `dial` and gives the client `Conn`. A `Server` *target* is mounted at *path*
    of a new application with `setup`. The clients close at `aclose`; ``aiohttp_client``
    then stops the servers.
    """

    def __init__(self, aiohttp_client: AiohttpClient) -> None:
        self._aiohttp_client = aiohttp_client
        self._served: dict[int, tuple[TestClient[Any, Any], web.Application]] = {}
        self._conns: list[Conn] = []

    def __repr__(self) -> str:
        return f"<SocketClients {len(self._conns)} open, {len(self._served)} served>"

    async def __call__(
        self,
        target: Target,
        namespaces: ClientHandlers | None = None,
        *,
        path: str = "/ws",
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Conn:
        """Serve *target* (once), dial it at *path* and give the client `Conn`."""
        __tracebackhide__ = True
        served = self._served.get(id(target))
        if served is None:
            app = _application(target, path)
            server_of(app)  # an application without a server fails before it is served
            served = self._served[id(target)] = (await self._aiohttp_client(app), app)
        test_client, app = served
        server, _ = server_of(app)
        url = test_client.make_url(path).with_scheme("ws")
        if query:
            url = url.update_query(query)
        conn = await dial(
            str(url),
            client_namespaces(server, namespaces),
            headers=headers,
            session=test_client.session,
            **options,
        )
        self._conns.append(conn)
        return conn

    async def aclose(self) -> None:
        """Close every client, last opened first."""
        while self._conns:
            await self._conns.pop().close()


def _application(target: Target, path: str) -> web.Application:
    if not isinstance(target, Server):
        return target
    app = web.Application()
    app.router.add_get(path, handler(target))
    setup(app, target)
    return app
