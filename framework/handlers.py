"""What handlers look like: `Handler`, `Events`, `Namespaces` and the `ConnHandler` seam.

Handlers are compiled once, when a `Server` or client is built (`compile_namespaces`);
dispatching a message is then one dict lookup and a call.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from .events import ON_ANY_EVENT
from .message import Message
from .tables import EventEntry, NamespaceTable

if TYPE_CHECKING:
    from .ns_conn import NSConn

ReplyValue: TypeAlias = Any
"""What a handler may return: ``None``, bytes, str, `Reply`, an attrs value or JSON data."""

Handler: TypeAlias = Callable[["NSConn", Message], Awaitable[ReplyValue] | ReplyValue]
"""An event handler: ``async def handler(ns: NSConn, msg: Message) -> reply``."""


class Events(dict[str, Handler]):
    """The handlers of one namespace, by event name (neffos ``Events``).

    As a `ConnHandler` on its own, it serves namespace ``""``.
    """

    def get_namespaces(self) -> Mapping[str, Mapping[str, Handler]]:
        """Give these events as namespace ``""``."""
        return {"": self}


class Namespaces(dict[str, Mapping[str, Handler]]):
    """Events by namespace name (neffos ``Namespaces``); plain dicts work too."""

    def get_namespaces(self) -> Mapping[str, Mapping[str, Handler]]:
        """Give these namespaces."""
        return self


@runtime_checkable
class ConnHandler(Protocol):
    """Anything that yields namespaces: `Namespaces`, `Events`, an MVC application."""

    def get_namespaces(self) -> Mapping[str, Mapping[str, Handler]]:
        """Give the events of every namespace this handler serves."""
        ...


HandlerSource: TypeAlias = ConnHandler | Mapping[str, Mapping[str, Handler]]
"""What `Server` and `dial` accept: a `ConnHandler` or a plain ``{ns: {event: handler}}``."""


def _is_async(handler: Handler) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - async __call__ objects
    return inspect.iscoroutinefunction(call)


def compile_namespaces(source: HandlerSource) -> dict[str, NamespaceTable]:
    """Compile *source* into tables; raise `TypeError` for a handler that is not callable."""
    namespaces = source.get_namespaces() if isinstance(source, ConnHandler) else source
    if not isinstance(namespaces, Mapping):
        raise TypeError(f"expected a ConnHandler or a mapping of namespaces, got {source!r}")
    tables: dict[str, NamespaceTable] = {}
    for ns, events in namespaces.items():
        if not isinstance(ns, str):
            raise TypeError(f"namespace names are str, got {ns!r}")
        if not isinstance(events, Mapping):
            raise TypeError(
                f"the events of namespace {ns!r} must be a mapping of event to handler: got {events!r}; "
                "if these are events rather than namespaces, wrap them in Events({...}) for namespace ''"
            )
        entries: dict[str, EventEntry] = {}
        for event, handler in events.items():
            if not callable(handler):
                raise TypeError(f"handler for {ns!r}/{event!r} is not callable: {handler!r}")
            entries[event] = EventEntry(handler, _is_async(handler))
        on_any = entries.get(ON_ANY_EVENT)
        tables[ns] = NamespaceTable(ns, entries, on_any)
    return tables
