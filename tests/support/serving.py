"""What the suite's fixtures (tests/conftest.py) give, as types, and the production-like server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from aioneffos.framework import Conn, Server, handler, setup
from support.peers import RawPeer
from support.tools import free_port

Serve = Callable[..., Awaitable[str]]
"""The ``serve`` fixture: ``await serve(server, app=None, path="/ws")`` gives the ws:// URL."""
ServeMvc = Callable[..., Awaitable[str]]
"""The ``serve_mvc`` fixture: ``await serve_mvc(mvc_app, **options)`` gives the ws:// URL."""
Dial = Callable[..., Awaitable[Conn]]
"""The ``clients`` fixture: ``await clients(url, namespaces=None, **dial_options)``."""
RawConnect = Callable[..., Awaitable[RawPeer]]
"""The ``raw`` fixture: ``await raw(url, handshake=True, **ws_connect_options)``."""

SMALL_BUFFER = 4096
"""Socket buffer of a peer on a congested link (the ``tiny_session`` fixture): it soon stops taking data."""


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
