"""Fixtures shared by every test package: a real aiohttp server on an ephemeral port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aioneffos.framework import Server, handler, setup

Serve = Callable[..., Awaitable[str]]


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
