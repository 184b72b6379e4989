"""The runtime half of a controller: the handlers `compiler` builds, and what they run per message.

The per-message path is a dict lookup and a call. Everything is decided when the
controller is registered (`compiler`); each handler below closes over its precomputed
plan. An event handler looks the controller up in ``ns_conn.store``, fills the extra
parameters (if any) from resolvers, awaits the method and hands the result to the
framework as the reply.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from aioneffos.framework import Cleanup, Handler, Message, NSConn

from .controller import Controller
from .injection import ConnectionContext, EventContext, InjectionContext, Resolver, message_of
from .typing import is_awaitable

CONTEXT_KEY = "aioneffos.controllers.context"
"""Where a namespace connection keeps its `ConnectionContext` (in ``ns_conn.store``)."""


@attrs.frozen
class Argument:
    """One compiled value to pass: how to resolve it and whether it may be awaitable."""

    resolve: Resolver
    may_await: bool


async def resolve_all(ctx: InjectionContext, plan: tuple[Argument, ...]) -> list[Any]:
    """Resolve every argument of *plan* in *ctx*, awaiting what needs it."""
    values = []
    for argument in plan:
        value = argument.resolve(ctx)
        if argument.may_await and is_awaitable(value):
            value = await value
        values.append(value)
    return values


_new = object.__new__
_EVENT_CONTEXT_SLOTS = {"ns_conn", "message", "connection", "cache", "cleanups"}
"""What the compiled handlers below set on the `EventContext` they make without its __init__."""
_NO_CLEANUPS: list[Cleanup] | None = None
if {slot for cls in EventContext.__mro__ for slot in getattr(cls, "__slots__", ())} != _EVENT_CONTEXT_SLOTS:
    raise AssertionError("EventContext's slots changed: update the compiled handlers")  # pragma: no cover


def event_handler(
    key: str,
    function: Callable[..., Awaitable[Any]],
    positional: tuple[Argument, ...],
    keywords: tuple[tuple[str, Argument], ...],
    encode: Callable[[object], object],
    *,
    message_only: bool,
) -> Handler:
    """Compile the handler of one event method.

    With *message_only* the method takes exactly the message; otherwise its arguments
    are resolved in a fresh `EventContext`, whose cleanups run once the method returns.
    The common shapes (the message and one value; one value) get handlers of their own,
    with no argument list or loop: this runs for every message.
    """
    if message_only:

        async def handle_message(ns: NSConn, msg: Message) -> object:
            result = await function(ns.store[key], msg)
            if result is None or type(result) is bytes or type(result) is str:
                return result
            return encode(result)

        return handle_message

    steps = tuple((argument.resolve, argument.may_await) for argument in positional)
    names = tuple(name for name, _ in keywords)
    keyword_plan = tuple(argument for _, argument in keywords)
    # Types a resolver gave that are not awaitable: a set lookup per value instead of a
    # failed attribute lookup (which raises and catches an AttributeError inside).
    plain: set[type] = set()

    with_message = len(steps) == 2 and steps[0][0] is message_of and not steps[0][1]
    if not names and (with_message or len(steps) == 1):
        # The common shapes: the message and one value, or one value (a typed body, a
        # dependency, a framework value).
        resolve, may_await = steps[-1]

        async def handle_one(ns: NSConn, msg: Message) -> object:
            store = ns.store
            ctx = _new(EventContext)  # `EventContext(ns, msg, connection)` with no __init__ frame
            ctx.ns_conn = ns
            ctx.message = msg
            ctx.connection = store[CONTEXT_KEY]
            ctx.cache = {}
            ctx.cleanups = _NO_CLEANUPS
            try:
                value = resolve(ctx)
                if may_await and type(value) not in plain:
                    if hasattr(type(value), "__await__"):
                        value = await value
                    else:
                        plain.add(type(value))
                if with_message:
                    result = await function(store[key], msg, value)
                else:
                    result = await function(store[key], value)
            finally:
                if ctx.cleanups:
                    await ctx.close()
            if result is None or type(result) is bytes or type(result) is str:
                return result
            return encode(result)

        return handle_one

    async def handle(ns: NSConn, msg: Message) -> object:
        store = ns.store
        ctx = EventContext(ns, msg, store[CONTEXT_KEY])
        try:
            args = []  # resolve_all, inlined: this runs for every message
            for resolve, may_await in steps:
                value = resolve(ctx)
                if may_await and type(value) not in plain:
                    if hasattr(type(value), "__await__"):
                        value = await value
                    else:
                        plain.add(type(value))
                args.append(value)
            if names:
                kwargs = dict(zip(names, await resolve_all(ctx, keyword_plan), strict=True))
                result = await function(store[key], *args, **kwargs)
            else:
                result = await function(store[key], *args)
        finally:
            if ctx.cleanups:
                await ctx.close()
        if result is None or type(result) is bytes or type(result) is str:
            return result
        return encode(result)

    return handle


@attrs.frozen
class ControllerFactory:
    """Makes the controller of one namespace connection ("make me a controller for this NSConn")."""

    cls: type[Controller]
    seeds: tuple[tuple[str, object], ...]
    names: tuple[str, ...]
    """The injected attributes, in the order of `plan`."""
    plan: tuple[Argument, ...]
    namespace: Callable[[], str | None]
    """Gives the namespace to set on the instance, or ``None`` when it is a method."""
    timeout: Callable[[], float | None]

    async def __call__(self, ctx: InjectionContext) -> Controller:
        """Create the instance, copy the seeds, set the framework attributes, inject the rest."""
        controller = self.cls()
        for name, value in self.seeds:
            setattr(controller, name, value)
        controller.ns_conn = ctx.ns_conn
        namespace = self.namespace()
        if namespace is not None:
            controller.namespace = namespace
        timeout = self.timeout()
        if timeout is not None:
            controller._timeout = timeout
        for name, value in zip(self.names, await resolve_all(ctx, self.plan), strict=True):
            setattr(controller, name, value)
        return controller


class Forget:
    """A cleanup that removes *key* from *store* (if there): one small object per namespace
    connection, where a ``functools.partial`` of ``store.pop`` took four (272 bytes)."""

    __slots__ = ("key", "store")

    def __init__(self, store: dict[str, Any], key: str) -> None:
        self.store = store
        self.key = key

    def __call__(self) -> None:
        self.store.pop(self.key, None)

    def __repr__(self) -> str:
        return f"Forget({self.key!r})"


def connect_handler(key: str, factory: ControllerFactory, user_connect: Handler | None) -> Handler:
    """Compile the ``_OnNamespaceConnect`` handler: create the controller, then run ``OnNamespaceConnect``.

    Whatever fails (the constructor, a connection-scope dependency, the user's hook)
    refuses the connect with its text; the framework then runs every cleanup deferred so
    far (`NSConn.defer`), whichever side asked for the connect.
    """

    async def on_connect(ns: NSConn, msg: Message) -> None:
        store = ns.store
        ctx = store.get(CONTEXT_KEY)
        if ctx is None:
            ctx = store[CONTEXT_KEY] = ConnectionContext(ns)
            ns.defer(Forget(store, CONTEXT_KEY))
        store[key] = await factory(ctx)
        ns.defer(Forget(store, key))
        if user_connect is not None:
            await user_connect(ns, msg)

    return on_connect
