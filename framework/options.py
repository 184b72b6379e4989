"""`Options`: the limits, timeouts and policies of a server or client, with their defaults."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
from attrs import validators as v

from .limits import OriginPolicy

DEFAULT_PING_INTERVAL: float | None = 25.0
_positive_int = v.gt(0)
_positive = v.gt(0.0)


def _optional_positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0 or None, got {value!r}")


def _origins(value: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _valid_origins(_: object, __: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
    OriginPolicy(value)  # raises ValueError naming a malformed entry


@attrs.frozen(kw_only=True)
class Options:
    """Limits and timeouts; every one is a keyword of `Server(...)` and `dial(...)`."""

    max_message_size: int = attrs.field(default=1 << 20, validator=_positive_int)
    """Largest incoming frame in bytes; a bigger one closes the connection with 1009."""
    handshake_timeout: float = attrs.field(default=15.0, validator=_positive)
    """Seconds a new connection has to send ``M`` (server) or get ``A``/``H`` (client)."""
    ask_timeout: float = attrs.field(default=10.0, validator=_positive)
    """Default seconds an ask (and connect, join, leave, disconnect) waits for its reply."""
    outbound_queue_size: int = attrs.field(default=1024, validator=_positive_int)
    """Frames queued for a peer that reads slower than we write; past it the peer is
    closed with 1008 "slow consumer"."""
    outbound_queue_bytes: int = attrs.field(default=4 << 20, validator=_positive_int)
    """Bytes queued for a peer that reads slower than we write (payloads; one frame always
    fits); past it, as past `outbound_queue_size`, the peer is closed with 1008 "slow consumer"."""
    inbound_backlog_size: int = attrs.field(default=256, validator=_positive_int)
    """Messages held while a handler of the same connection is busy; past it reading
    pauses until the handler catches up, except while one of its asks awaits a reply."""
    inbound_backlog_bytes: int = attrs.field(default=4 << 20, validator=_positive_int)
    """Bytes held while a handler of the same connection is busy (each message counts its
    size plus 256 bytes); past it reading pauses, and asks of that connection waiting for a
    reply fail with `BacklogFullError` (their reply could be behind what the peer sent)."""
    ping_interval: float | None = attrs.field(default=DEFAULT_PING_INTERVAL, validator=_optional_positive)
    """Seconds between protocol pings (answered by every browser and neffos client);
    a peer that misses a pong is closed. ``None`` turns pings off."""
    read_timeout: float | None = attrs.field(default=None, validator=_optional_positive)
    """Close a connection that sends no data frame for this many seconds (neffos ReadTimeout)."""
    close_timeout: float = attrs.field(default=5.0, validator=_positive)
    """Seconds a close may take: queued frames drain and the peer answers the close frame;
    after it the socket is cut and the connection torn down (also the bound on shutdown)."""
    reply_to_unanswered_asks: bool = True
    """Answer an ask whose handler returned nothing with the empty reply
    (docs/protocol.md#unanswered-asks); ``False``
    copies neffos's silence."""
    allowed_origins: tuple[str, ...] = attrs.field(default=(), converter=_origins, validator=_valid_origins)
    """Web pages (``Origin``) allowed to connect besides the server's own (server only):
    ``"https://app.example.com"``, ``"*.example.com"``, ``"localhost:3000"``, or ``"*"``
    for every origin. Others get 403 before the upgrade; requests without ``Origin`` pass."""
    max_connections: int | None = attrs.field(default=None, validator=_optional_positive)
    """Connections this server accepts at once (server only); more get 503. ``None``: no limit."""
    max_rooms_per_connection: int = attrs.field(default=256, validator=_positive_int)
    """Rooms one connection may join at the peer's request, over all its namespaces; the
    next join gets the error reply "too many rooms"."""
    max_name_length: int = attrs.field(default=256, validator=_positive_int)
    """Longest room name (UTF-8 bytes) a peer may join, and longest event name an
    ``_OnAnyEvent`` handler is given; longer ones get an error reply. Names echoed in error
    replies are cut to this length."""
    max_messages_per_second: float | None = attrs.field(default=None, validator=_optional_positive)
    """Messages a peer may send per second (a burst of one second's worth); past it asks get
    the error reply "rate limit exceeded" and other messages are dropped, and a peer still
    sending a whole burst past it is closed with 1008. ``None``: no limit."""
    max_bytes_per_second: float | None = attrs.field(default=None, validator=_optional_positive)
    """Bytes a peer may send per second (a burst of one second's worth, at least one
    `max_message_size`), handled as `max_messages_per_second`. ``None``: no limit."""
    handler_timeout: float | None = attrs.field(default=None, validator=_optional_positive)
    """Seconds one message's handler may run; then it is cancelled and the message gets the
    error reply "handler timed out". ``None``: no limit."""
    cancel_handlers_on_close: bool = False
    """Cancel the handler a connection is running when the connection ends (closed by
    either side, or the peer vanished), so its teardown runs at once instead of after the
    handler. Shutdown cancels handlers still running after `close_timeout` regardless."""
