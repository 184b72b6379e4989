"""`Application`: the MVC application with a dependency-injector `Registry` plugged in.

It is ``aioneffos.controllers.BaseApplication`` with ``injector=Registry()``, plus the
registry's cleanup tied to the aiohttp application (app-scope generator factories and
``Resource`` providers are shut down at ``on_cleanup``). This is the one `Application`
users import (also as ``aioneffos.mvc.Application``), the class the seed's six steps use::

    mvc_app = Application(app, "/websocket_endpoint")
    mvc_app.register(PrefixedLogger(prefix="DEV"))
    mvc_app.handle_websocket(WebsocketController)
    server = Server(mvc_app)
    mvc_app.router.add_get("/", handler(server))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from aioneffos.controllers import BaseApplication, BodyCodec

from .registry import Registry


class Application(BaseApplication):
    """An MVC application whose dependencies live in a dependency-injector `Registry`.

    ``register`` takes static instances, factories (sync, async, generators), providers
    and containers, with ``provides=`` and ``scope=`` (see `Registry.register`).
    """

    def __init__(
        self,
        app: web.Application,
        prefix: str = "",
        *,
        registry: Registry | None = None,
        body_codec: BodyCodec | None = None,
    ) -> None:
        self.registry = registry if registry is not None else Registry()
        """The dependencies; override providers through it in tests."""
        super().__init__(app, prefix, injector=self.registry, body_codec=body_codec)
        app.on_cleanup.append(self._close_registry)

    @contextmanager
    def override(self, key: Any, replacement: object) -> Iterator[None]:
        """Replace what provides *key* while the ``with`` block runs, for tests:
        ``with mvc_app.override(Logger, FakeLogger()):`` (see `Registry.override`)."""
        with self.registry.override(key, replacement):
            yield

    async def _close_registry(self, _: web.Application) -> None:
        await self.registry.aclose()
