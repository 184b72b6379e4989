"""Compiled handler tables: where a namespace connection looks an incoming event up.

`handlers.compile_namespaces` builds them once per `Server` or client; a message then
costs one dict lookup. A table holds plain callables and knows no connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from .events import ON_NATIVE_MESSAGE
from .logs import UNKNOWN_EVENTS_REMEMBERED, WarnOnce

if TYPE_CHECKING:
    from .message import Message


class MessageObserver(Protocol):
    """The part of an `Observer` (``observer.py``) a namespace tells of its emits and asks."""

    def sent(self, namespace: str, event: str, count: int) -> None: ...

    async def asking(self, msg: Message, reply: Awaitable[Message]) -> Message: ...


@attrs.frozen
class EventEntry:
    """A compiled handler: the callable (see `Handler`) and whether calling it gives an awaitable."""

    handler: Callable[..., Any]
    is_async: bool


@attrs.frozen
class NamespaceTable:
    """The compiled handlers of one namespace."""

    name: str
    entries: Mapping[str, EventEntry]
    on_any: EventEntry | None
    unknown: WarnOnce = attrs.field(factory=lambda: WarnOnce(UNKNOWN_EVENTS_REMEMBERED), eq=False, repr=False)
    """The event names without a handler already warned about (bounded)."""
    observer: MessageObserver | None = attrs.field(default=None, eq=False, repr=False)
    """The server's observer (`Server.observe`), told of emits and asks through this namespace."""

    def lookup(self, event: str) -> EventEntry | None:
        """Give the handler for *event*, else the ``_OnAnyEvent`` fallback, else ``None``."""
        entry = self.entries.get(event)
        return entry if entry is not None else self.on_any


def is_native_only(tables: Mapping[str, NamespaceTable]) -> bool:
    """Tell whether the only handler is namespace ``""``'s ``_OnNativeMessage`` (no handshake)."""
    if list(tables) != [""]:
        return False
    return list(tables[""].entries) == [ON_NATIVE_MESSAGE]


def allows_native(tables: Mapping[str, NamespaceTable]) -> bool:
    """Tell whether namespace ``""`` handles native messages."""
    table = tables.get("")
    return table is not None and ON_NATIVE_MESSAGE in table.entries
