"""The `Injector` seam: how controllers get their dependencies, without knowing any DI library.

The work is split in two, so nothing is looked up per message:

* at registration, the controller layer describes each injection site as a `Dependency`
  (a controller attribute, resolved once per namespace connection, or an extra
  parameter of an event method, resolved per event) and asks the injector for a
  `Resolver`;
* at run time, it creates one controller per namespace connection ("make me a
  controller for this NSConn", neffos ``Struct.SetInjector``) and calls those resolvers
  with an `InjectionContext`: the namespace connection, the message for an event, a
  cache, and a place to defer cleanups.

`NoInjector` (the default of `aioneffos.controllers.BaseApplication`) resolves nothing
beyond the framework values below; ``aioneffos.di`` implements the seam with
dependency-injector.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import attrs
from aiohttp import web

from aioneffos.framework import Cleanup, Conn, Message, NSConn, Server, get_request, get_server, run_cleanups

from .errors import MissingDependencyError, ScopeMismatchError
from .typing import type_name

logger = logging.getLogger("aioneffos.controllers")


class Scope(enum.Enum):
    """How long a resolved value lives."""

    APP = "app"
    """One value for the whole application (static services, singletons)."""
    CONNECTION = "connection"
    """One value per namespace connection, resolved when the namespace connects."""
    EVENT = "event"
    """One value per event, resolved before the event method runs."""

    def outlives(self, other: Scope) -> bool:
        """Tell whether a value of this scope lives longer than one of *other*."""
        order = (Scope.EVENT, Scope.CONNECTION, Scope.APP)
        return order.index(self) > order.index(other)


@attrs.frozen
class Dependency:
    """One injection site: what is asked for, where, and for how long it must live."""

    site: str
    """Where the value goes: ``"Chat.logger"`` (attribute) or ``"Chat.OnChat(user)"`` (parameter)."""
    annotation: Any
    """The type asked for (``Annotated`` metadata stripped)."""
    scope: Scope
    """`Scope.CONNECTION` for a controller attribute, `Scope.EVENT` for an event parameter."""
    marker: object = None
    """A marker the injector recognised (`Injector.is_marker`), from a default or ``Annotated``."""


class InjectionContext:
    """Where a resolution happens: one namespace connection, or one event of it.

    ``cache`` holds the values resolved in this context (injectors key it as they
    like); ``connection`` is the namespace connection's context (itself for one).
    """

    __slots__ = ("cache", "connection", "message", "ns_conn")

    ns_conn: NSConn
    message: Message | None
    connection: InjectionContext
    cache: dict[object, Any]

    def defer(self, cleanup: Cleanup) -> None:
        """Run *cleanup* (sync or async) when this context ends, last deferred first."""
        raise NotImplementedError

    @property
    def conn(self) -> Conn:
        """Give the websocket connection."""
        return self.ns_conn.conn

    @property
    def request(self) -> web.Request:
        """Give the upgrade request (see `aioneffos.framework.get_request`)."""
        return get_request(self.ns_conn.conn)


class ConnectionContext(InjectionContext):
    """The context of one namespace connection; its cleanups run when the namespace ends."""

    __slots__ = ()

    def __init__(self, ns_conn: NSConn) -> None:
        self.ns_conn = ns_conn
        self.message = None
        self.connection = self
        # ``cache`` is made on first use (`__getattr__`): most namespace connections have no
        # connection-scope value to keep, and one lives as long as its connection.

    if not TYPE_CHECKING:  # hidden from type checkers, which would allow any attribute

        def __getattr__(self, name: str) -> dict[object, Any]:
            # Called only for a slot not set yet: ``cache``, on its first use.
            if name != "cache":
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            cache: dict[object, Any] = {}
            self.cache = cache
            return cache

    def defer(self, cleanup: Cleanup) -> None:
        """Run *cleanup* when the namespace connection ends (`NSConn.defer`)."""
        self.ns_conn.defer(cleanup)


class EventContext(InjectionContext):
    """The context of one event; `close` runs its cleanups when the event method has returned."""

    __slots__ = ("cleanups",)

    def __init__(self, ns_conn: NSConn, message: Message, connection: InjectionContext) -> None:
        self.ns_conn = ns_conn
        self.message = message
        self.connection = connection
        self.cache = {}
        self.cleanups: list[Cleanup] | None = None
        """What `defer` collected (``None`` until something is deferred)."""

    def defer(self, cleanup: Cleanup) -> None:
        """Run *cleanup* when this event ends."""
        if self.cleanups is None:
            self.cleanups = []
        self.cleanups.append(cleanup)

    async def close(self) -> None:
        """Run the deferred cleanups, last first; each failure is logged and the rest still run."""
        if self.cleanups:
            await run_cleanups(self.cleanups, f"event {self.message!r}")


Resolver: TypeAlias = Callable[[InjectionContext], Any]
"""Give the value of one dependency in a context: the value itself, or an awaitable of it."""


class Injector(Protocol):
    """The DI seam of controllers: registrations, and resolvers compiled once per injection site."""

    def register(self, *dependencies: object, provides: Any = None, scope: Scope | None = None) -> None:
        """Make *dependencies* available to controllers registered from now on.

        *provides* names the type one dependency provides; *scope* pins a factory's lifetime.
        """
        ...

    def is_marker(self, value: object) -> bool:
        """Tell whether *value* (an attribute default or ``Annotated`` metadata) names a dependency."""
        ...

    def resolver(self, dependency: Dependency) -> Resolver:
        """Compile how to resolve *dependency*; called at registration, never per message.

        Raise `MissingDependencyError`, `AmbiguousDependencyError`, `ScopeMismatchError`
        or `CircularDependencyError` naming ``dependency.site``.
        """
        ...


class NoInjector:
    """An injector without a container: only the framework values can be injected."""

    def register(self, *dependencies: object, provides: Any = None, scope: Scope | None = None) -> None:
        """Raise `TypeError`: there is no container to register into."""
        raise TypeError(
            "this application has no dependency container: use aioneffos.mvc.Application "
            "(or pass injector=aioneffos.di.Registry()) to register dependencies"
        )

    def is_marker(self, value: object) -> bool:
        """Tell that nothing is a marker."""
        return False

    def resolver(self, dependency: Dependency) -> Resolver:
        """Raise `MissingDependencyError`: nothing is registered here."""
        raise MissingDependencyError(
            dependency.site,
            dependency.annotation,
            f"nothing provides {type_name(dependency.annotation)} (no dependency container)",
        )


# -- framework values -----------------------------------------------------------


def _ns_conn(ctx: InjectionContext) -> NSConn:
    return ctx.ns_conn


def _conn(ctx: InjectionContext) -> Conn:
    return ctx.ns_conn.conn


def _request(ctx: InjectionContext) -> web.Request:
    return get_request(ctx.ns_conn.conn)


def _server(ctx: InjectionContext) -> Server:
    return get_server(ctx.ns_conn.conn)


def message_of(ctx: InjectionContext) -> Message:
    """Give the message of an event context."""
    return ctx.message  # type: ignore[return-value]  # only compiled for event sites


_FRAMEWORK_VALUES: dict[Any, Resolver] = {
    NSConn: _ns_conn,
    Conn: _conn,
    web.Request: _request,
    web.BaseRequest: _request,
    Server: _server,
    Message: message_of,
}


def framework_resolver(dependency: Dependency) -> Resolver | None:
    """Give the resolver of a framework value (`NSConn`, `Conn`, ``web.Request``, `Server`,
    `Message`), or ``None`` when *dependency* asks for something else.

    Raise `ScopeMismatchError` when the value does not exist in the dependency's scope
    (a `Message` outside an event, anything connection-bound in the app scope).
    """
    resolve = _FRAMEWORK_VALUES.get(dependency.annotation)
    if resolve is None:
        return None
    if dependency.scope is Scope.APP or (resolve is message_of and dependency.scope is not Scope.EVENT):
        where = "an event" if resolve is message_of else "a connection"
        raise ScopeMismatchError(
            dependency.site,
            dependency.annotation,
            f"a {type_name(dependency.annotation)} exists only within {where}, "
            f"not in the {dependency.scope.value} scope",
        )
    return resolve
