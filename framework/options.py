"""`Options`: the limits, timeouts and policies of a server or client, with their defaults."""

from __future__ import annotations

import attrs
from attrs import validators as v

DEFAULT_PING_INTERVAL: float | None = 25.0
_positive_int = v.gt(0)
_positive = v.gt(0.0)


def _optional_positive(_: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be > 0 or None, got {value!r}")


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
    inbound_backlog_size: int = attrs.field(default=256, validator=_positive_int)
    """Messages held while a handler of the same connection is busy; past it reading
    pauses until the handler catches up, except while one of its asks awaits a reply."""
    ping_interval: float | None = attrs.field(default=DEFAULT_PING_INTERVAL, validator=_optional_positive)
    """Seconds between protocol pings (answered by every browser and neffos client);
    a peer that misses a pong is closed. ``None`` turns pings off."""
    read_timeout: float | None = attrs.field(default=None, validator=_optional_positive)
    """Close a connection that sends no data frame for this many seconds (neffos ReadTimeout)."""
    close_timeout: float = attrs.field(default=5.0, validator=_positive)
    """Seconds to wait for the peer's close frame and for queued frames to drain on close."""
    reply_to_unanswered_asks: bool = True
    """Answer an ask whose handler returned nothing with the empty reply
    (docs/protocol.md#unanswered-asks); ``False``
    copies neffos's silence."""
