"""`BaseApplication`: the MVC application of this layer, without a dependency container.

It holds an `Injector` (the DI seam) and hands it every controller it registers; by
default `NoInjector`, which injects only framework values (`NSConn`, `Conn`,
``web.Request``, `Server`, `Message`), so the controller layer depends on no DI library.
The one `Application` users import (``aioneffos.mvc.Application``, defined in
``aioneffos.di``) is this class with a dependency-injector `Registry` plugged in, so that
``register`` works::

    from aioneffos.mvc import Application

    mvc_app = Application(app, "/websocket_endpoint")  # Iris mvc.New(app.Party(prefix))
    mvc_app.register(PrefixedLogger(prefix="DEV"))
    mvc_app.handle_websocket(WebsocketController)
    server = Server(mvc_app)
    mvc_app.router.add_get("/", handler(server))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Self

from aiohttp import web

from aioneffos.framework import Handler

from .bodies import DEFAULT_CODEC, BodyCodec
from .controller import Controller
from .errors import FrozenApplicationError
from .handle import ControllerHandle
from .injection import Injector, NoInjector, Scope
from .join import join_conn_handlers
from .matchers import DEFAULT_MATCHER, EventMatcher
from .reflection import reflect

RouteHandler = Callable[[web.Request], Any]


class PrefixedRouter:
    """Adds routes under a path prefix of an aiohttp router (an Iris ``Party``).

    ``"/"`` is the prefix itself: with prefix ``/ws``, ``add_get("/", h)`` serves ``/ws``
    and ``add_get("/admin", h)`` serves ``/ws/admin``.
    """

    def __init__(self, router: web.UrlDispatcher, prefix: str) -> None:
        self.router = router
        self.prefix = prefix

    def url(self, path: str) -> str:
        """Give the full path of *path* under the prefix."""
        if not path.startswith("/"):
            raise ValueError(f"route paths start with '/', got {path!r}")
        if path == "/":
            return self.prefix or "/"
        return self.prefix + path

    def add_route(self, method: str, path: str, handler: RouteHandler, **kwargs: Any) -> web.AbstractRoute:
        """Add a route for *method* at *path* under the prefix."""
        return self.router.add_route(method, self.url(path), handler, **kwargs)

    def add_get(self, path: str, handler: RouteHandler, **kwargs: Any) -> web.AbstractRoute:
        """Add a GET route (and HEAD, which neffos.js uses as its reconnect probe)."""
        return self.router.add_get(self.url(path), handler, **kwargs)

    def add_post(self, path: str, handler: RouteHandler, **kwargs: Any) -> web.AbstractRoute:
        """Add a POST route."""
        return self.router.add_post(self.url(path), handler, **kwargs)

    def add_put(self, path: str, handler: RouteHandler, **kwargs: Any) -> web.AbstractRoute:
        """Add a PUT route."""
        return self.router.add_put(self.url(path), handler, **kwargs)

    def add_delete(self, path: str, handler: RouteHandler, **kwargs: Any) -> web.AbstractRoute:
        """Add a DELETE route."""
        return self.router.add_delete(self.url(path), handler, **kwargs)


def _normalize_prefix(prefix: str) -> str:
    if prefix in ("", "/"):
        return ""
    if not prefix.startswith("/"):
        raise ValueError(f"a prefix starts with '/', got {prefix!r}")
    return prefix.rstrip("/")


class BaseApplication:
    """An MVC application: dependencies, websocket controllers, and the routes of a prefix.

    It is a `ConnHandler`: ``Server(mvc_app)`` serves every controller registered with
    `handle_websocket`. Register dependencies and controllers before building the
    `Server`; afterwards the application is frozen (`FrozenApplicationError`). Without an
    *injector* it registers no dependencies: use ``aioneffos.mvc.Application``, or pass
    one (``injector=aioneffos.di.Registry()``, or your own `Injector`).
    """

    def __init__(
        self,
        app: web.Application,
        prefix: str = "",
        *,
        injector: Injector | None = None,
        body_codec: BodyCodec | None = None,
    ) -> None:
        self.app = app
        """The aiohttp application the routes are added to."""
        self.prefix = _normalize_prefix(prefix)
        self.router = PrefixedRouter(app.router, self.prefix)
        """Routes under the prefix (Iris ``mvcApp.Router``)."""
        self.injector: Injector = injector if injector is not None else NoInjector()
        """Resolves the controllers' dependencies."""
        self.body_codec = body_codec if body_codec is not None else DEFAULT_CODEC
        """Decodes typed event bodies, encodes attrs replies and describes both (msgspec)."""
        self._handles: list[ControllerHandle] = []
        self._frozen = False

    def __repr__(self) -> str:
        names = [handle.controller.__qualname__ for handle in self._handles]
        return f"<{type(self).__name__} prefix={self.prefix!r} controllers={names}>"

    @property
    def handles(self) -> tuple[ControllerHandle, ...]:
        """Give the registered controllers, in registration order."""
        return tuple(self._handles)

    def register(self, *dependencies: object, provides: Any = None, scope: Scope | None = None) -> None:
        """Register *dependencies* with the injector, for the controllers registered after this call.

        *provides* names the type one dependency provides; *scope* pins a factory's
        lifetime (see ``aioneffos.di.Registry.register``).
        """
        self._check_open()
        self.injector.register(*dependencies, provides=provides, scope=scope)

    def handle_websocket(
        self, controller: type[Controller] | Controller, *, event_matcher: EventMatcher = DEFAULT_MATCHER
    ) -> ControllerHandle:
        """Register a controller class, or a template instance whose public attributes seed
        every new instance; return its handle (``set_namespace``, ``set_event_matcher``, ...).

        *event_matcher* picks the event methods (``On*`` by default). Everything is checked
        now: raise `InvalidEventMethodError` or a `DependencyError` naming controller,
        member and type, or `InvalidControllerError`; a controller with no event method
        at all raises it when a `Server` is built, so a matcher can still be set.
        """
        self._check_open()
        handle = ControllerHandle(
            reflect(controller), injector=self.injector, codec=self.body_codec, event_matcher=event_matcher
        )
        self._handles.append(handle)
        return handle

    def configure(self, *configurators: Callable[[Self], object]) -> Self:
        """Call each configurator with this application (Iris ``Configure``); return the application."""
        for configure in configurators:
            configure(self)
        return self

    def get_namespaces(self) -> Mapping[str, Mapping[str, Handler]]:
        """Give the events of every controller, by namespace (the `ConnHandler` protocol); freezes."""
        self._frozen = True
        return join_conn_handlers(*self._handles)

    def _check_open(self) -> None:
        if self._frozen:
            raise FrozenApplicationError(
                "register dependencies and controllers before a Server is built from the application"
            )
