"""`connect`: a client of a `Server` over an in-memory connection, and `running`, an aiohttp
application's startup and cleanup without a listening socket.

The connection is the one production runs, minus the network: the server accepts it as its
aiohttp glue accepts an upgrade (the same refusals, headers, query and remote address, the
id generator), then `Server.serve` runs it (handshake, routing, ordering, replies,
teardown); the client is the `Conn` that `dial` gives, over a memory socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web
from yarl import URL

from aioneffos.framework import (
    ON_NATIVE_MESSAGE,
    SERVER_KEY,
    Conn,
    Handler,
    MemorySocket,
    Message,
    NSConn,
    Server,
    dial_memory,
)

from .recorder import ClientHandlers, Recorder

Target = Server | web.Application
"""What a test client connects to: a `Server`, or an aiohttp application that `setup` gave one."""


@contextlib.asynccontextmanager
async def connect(
    target: Target,
    namespaces: ClientHandlers | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    remote: str = "127.0.0.1",
    path: str = "/ws",
    **options: Any,
) -> AsyncIterator[Conn]:
    """Connect a client to *target* in memory: ``async with connect(server) as conn:``.

    *conn* is the acknowledged client `Conn`, as `dial` gives (``await conn.connect(ns)``,
    ``emit``, ``ask``, rooms, handlers for what the server sends and asks). *namespaces*
    are the client's handlers; ``None`` declares every namespace of the server with no
    handler, and a `Recorder` built without namespaces records in all of them.

    On the server, ``get_request(conn)`` gives a real ``aiohttp.web.Request``: ``GET``
    *path* with *query*, *headers* and the *remote* address, belonging to *target* when it
    is an application (``request.app``). Keyword *options* are `dial`'s (``reconnect=``)
    and `Options` fields. On exit the client closes (1000) and the server has finished
    with the connection (its disconnect hooks and ``on_disconnect`` ran).

    Raise `ConnectionRefusedError` when the server is closed, full or refuses the origin,
    `ConnectionRefusedByPeerError` when its ``on_connect`` refuses, `TypeError` for an
    application without a server, and `TimeoutError` on a normal exit when the server
    side has not finished within `Options.close_timeout` (a hook that hangs).
    """
    __tracebackhide__ = True  # a failure points at the test's line
    client = await MemoryClient.open(
        target, namespaces, headers=headers, query=query, remote=remote, path=path, **options
    )
    try:
        yield client.conn
    except BaseException:
        await client.close(strict=False)
        raise
    await client.close()


class MemoryClient:
    """One in-memory client `Conn` and what it takes to close it as `connect` does."""

    def __init__(self, conn: Conn, server: Server, ends: list[MemorySocket]) -> None:
        self.conn = conn
        self._server = server
        self._ends = ends

    @classmethod
    async def open(
        cls,
        target: Target,
        namespaces: ClientHandlers | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        remote: str = "127.0.0.1",
        path: str = "/ws",
        **options: Any,
    ) -> MemoryClient:
        """Connect a client to *target* in memory (see `connect`)."""
        __tracebackhide__ = True
        server, app = server_of(target)
        ends: list[MemorySocket] = []
        conn = await dial_memory(
            server,
            client_namespaces(server, namespaces),
            path=str(URL(path).update_query(query)) if query else path,
            headers=headers,
            remote=remote,
            app=app,
            on_open=ends.append,
            **options,
        )
        return cls(conn, server, ends)

    async def close(self, *, strict: bool = True) -> None:
        """Close the client (1000) and wait until the server has finished with the connection;
        with *strict*, raise `TimeoutError` when it has not within `Options.close_timeout`."""
        conn = self.conn
        await conn.close()
        served = [asyncio.ensure_future(end.served()) for end in self._ends]
        timeout = self._server.options.close_timeout
        _, pending = await asyncio.wait(served, timeout=timeout) if served else (set(), set())
        for waiting in pending:
            waiting.cancel()
        if pending and strict:
            raise TimeoutError(
                f"the server has not finished with connection {conn.id!r} {timeout:g} s after it "
                "closed: a disconnect hook or on_disconnect is still running"
            )


@contextlib.asynccontextmanager
async def running(app: web.Application) -> AsyncIterator[web.Application]:
    """Run *app*'s startup hooks now, and its shutdown and cleanup hooks on exit, without
    listening anywhere (aiohttp's ``AppRunner`` with no site).

    With `setup`, the server starts with the app and closes at its shutdown (1001 to every
    client); MVC applications close their app-scope dependencies at its cleanup.
    """
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        yield app
    finally:
        await runner.cleanup()


def server_of(target: object) -> tuple[Server, web.Application | None]:
    """Give the `Server` of *target* and its application (``None`` for a bare server).

    Raise `TypeError` when *target* is neither, or an application without a server.
    """
    __tracebackhide__ = True
    if isinstance(target, Server):
        return target, None
    if isinstance(target, web.Application):
        server = target.get(SERVER_KEY)
        if server is None:
            raise TypeError(
                "this aiohttp application has no aioneffos server: call setup(app, server) "
                "when building it, or give the Server itself"
            )
        return server, target
    name = getattr(target, "__name__", None) if callable(target) else None
    hint = f" (call it: {name}())" if name else ""
    raise TypeError(f"expected a Server or an aiohttp application, got {target!r}{hint}")


def client_namespaces(server: Server, namespaces: ClientHandlers | None) -> ClientHandlers:
    """Give the client's handlers: *namespaces* as given; for ``None`` (or a `Recorder` without
    namespaces) every namespace *server* serves, native-only when the server is."""
    if namespaces is not None and not (isinstance(namespaces, Recorder) and not namespaces.declared):
        return namespaces
    handlers = server.handlers
    native_only = list(handlers) == [""] and list(handlers[""]) == [ON_NATIVE_MESSAGE]
    every: dict[str, Mapping[str, Handler]] = (
        {"": {ON_NATIVE_MESSAGE: _ignore}} if native_only else {name: {} for name in handlers}
    )
    return every if namespaces is None else namespaces.wrap(every)


async def _ignore(ns: NSConn, msg: Message) -> None:
    """What a client without handlers does with a native message: nothing."""
