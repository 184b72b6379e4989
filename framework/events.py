"""Event names, handler tables (`Events`, `Namespaces`) and the `ConnHandler` seam.

Handler tables are compiled once, when a `Server` or client is built; dispatching a
message is then one dict lookup and a call.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

import attrs

from .logs import UNKNOWN_EVENTS_REMEMBERED, WarnOnce
from .message import Message

if TYPE_CHECKING:
    from .ns_conn import NSConn

ON_NAMESPACE_CONNECT = "_OnNamespaceConnect"
ON_NAMESPACE_CONNECTED = "_OnNamespaceConnected"
ON_NAMESPACE_DISCONNECT = "_OnNamespaceDisconnect"
ON_ROOM_JOIN = "_OnRoomJoin"
ON_ROOM_JOINED = "_OnRoomJoined"
ON_ROOM_LEAVE = "_OnRoomLeave"
ON_ROOM_LEFT = "_OnRoomLeft"
ON_ANY_EVENT = "_OnAnyEvent"
ON_NATIVE_MESSAGE = "_OnNativeMessage"

SYSTEM_EVENTS = frozenset(
    {
        ON_NAMESPACE_CONNECT,
        ON_NAMESPACE_CONNECTED,
        ON_NAMESPACE_DISCONNECT,
        ON_ROOM_JOIN,
        ON_ROOM_JOINED,
        ON_ROOM_LEAVE,
        ON_ROOM_LEFT,
    }
)
"""The seven system events (neffos ``IsSystemEvent``)."""

WIRE_REQUESTS = frozenset({ON_NAMESPACE_CONNECT, ON_NAMESPACE_DISCONNECT, ON_ROOM_JOIN, ON_ROOM_LEAVE})
"""The system events that travel as requests; the other names are local hooks only."""

LOCAL_ONLY_EVENTS = (SYSTEM_EVENTS - WIRE_REQUESTS) | {ON_ANY_EVENT, ON_NATIVE_MESSAGE}
"""Names a peer must never fire from the wire (docs/protocol.md#wire-system-events)."""


def is_system_event(event: str) -> bool:
    """Tell whether *event* is one of the seven system events."""
    return event in SYSTEM_EVENTS


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


@attrs.frozen
class EventEntry:
    """A compiled handler: the callable and whether calling it gives an awaitable."""

    handler: Handler
    is_async: bool


@attrs.frozen
class NamespaceTable:
    """The compiled handlers of one namespace."""

    name: str
    entries: Mapping[str, EventEntry]
    on_any: EventEntry | None
    unknown: WarnOnce = attrs.field(factory=lambda: WarnOnce(UNKNOWN_EVENTS_REMEMBERED), eq=False, repr=False)
    """The event names without a handler already warned about (bounded)."""

    def lookup(self, event: str) -> EventEntry | None:
        """Give the handler for *event*, else the ``_OnAnyEvent`` fallback, else ``None``."""
        entry = self.entries.get(event)
        return entry if entry is not None else self.on_any


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
        entries: dict[str, EventEntry] = {}
        for event, handler in events.items():
            if not callable(handler):
                raise TypeError(f"handler for {ns!r}/{event!r} is not callable: {handler!r}")
            entries[event] = EventEntry(handler, _is_async(handler))
        on_any = entries.get(ON_ANY_EVENT)
        tables[ns] = NamespaceTable(ns, entries, on_any)
    return tables


def is_native_only(tables: Mapping[str, NamespaceTable]) -> bool:
    """Tell whether the only handler is namespace ``""``'s ``_OnNativeMessage`` (no handshake)."""
    if list(tables) != [""]:
        return False
    return list(tables[""].entries) == [ON_NATIVE_MESSAGE]


def allows_native(tables: Mapping[str, NamespaceTable]) -> bool:
    """Tell whether namespace ``""`` handles native messages."""
    table = tables.get("")
    return table is not None and ON_NATIVE_MESSAGE in table.entries
