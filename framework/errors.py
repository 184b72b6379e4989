"""The error tree of aioneffos: every error is a `NeffosError` and the builtin that fits.

The four texts neffos peers know (`bad namespace`, `bad room`, `write closed`,
`invalid payload`) travel on the wire exactly as neffos writes them, so Go clients
resolve them to their own typed errors (docs/protocol.md#error-texts).
"""

from __future__ import annotations

BAD_NAMESPACE = "bad namespace"
BAD_ROOM = "bad room"
WRITE_CLOSED = "write closed"
INVALID_PAYLOAD = "invalid payload"

RATE_LIMITED = "rate limit exceeded"
"""Error reply to an ask sent past `Options.max_messages_per_second` / `max_bytes_per_second`."""
TOO_MANY_ROOMS = "too many rooms"
"""Error reply to a join past `Options.max_rooms_per_connection`."""
NAME_TOO_LONG = "name too long"
"""Error reply to a join, or an event for ``_OnAnyEvent``, whose name is past `Options.max_name_length`."""
HANDLER_TIMED_OUT = "handler timed out"
"""Error reply to a message whose handler ran past `Options.handler_timeout`."""


class NeffosError(Exception):
    """Base class of every error raised by aioneffos."""


class BadNamespaceError(NeffosError, LookupError):
    """The namespace is not declared on this side or the peer's, or not connected.

    ``namespace`` names it when this side knows which (``None`` for a bare wire error).
    """

    def __init__(self, text: str = BAD_NAMESPACE, *, namespace: str | None = None) -> None:
        super().__init__(text)
        self.namespace = namespace


class BadRoomError(NeffosError, LookupError):
    """The room is not joined by this connection."""

    def __init__(self, text: str = BAD_ROOM) -> None:
        super().__init__(text)


class WriteClosedError(NeffosError, ConnectionError):
    """The connection, namespace or room is closed for writing (or gone for good).

    ``namespace`` and ``room`` name the handle written through, when known.
    """

    def __init__(
        self, text: str = WRITE_CLOSED, *, namespace: str | None = None, room: str | None = None
    ) -> None:
        super().__init__(text)
        self.namespace = namespace
        self.room = room


class ReconnectingError(WriteClosedError):
    """The client lost its connection and is dialling again (``dial(reconnect=)``).

    Nothing was sent and nothing is queued (neffos.js loses such emits too); the same
    `NSConn` and `Room` objects work again once restored (``await conn.wait_connect(ns)``).
    """


class Refused(NeffosError):  # noqa: N818 - what a handler says (`raise Refused(...)`), not a library error
    """Raise it in a handler to refuse: the peer gets ``str(exc)`` as the error reply.

    A refusal is logged at DEBUG only, as are `PermissionError` and `ValueError`; any other
    exception from a handler is a bug and is logged at ERROR with its traceback.
    """


REFUSALS: tuple[type[Exception], ...] = (Refused, PermissionError, ValueError)
"""What a handler raises on purpose to refuse (not logged as an error)."""


class InvalidPayloadError(NeffosError, ValueError):
    """A frame is not a valid neffos message."""

    def __init__(self, text: str = INVALID_PAYLOAD) -> None:
        super().__init__(text)


class RemoteError(NeffosError):
    """The peer answered an ask with an error reply; ``text`` is its error text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class AskTimeoutError(NeffosError, TimeoutError):
    """An ask got no answer within its timeout."""


class BacklogFullError(NeffosError, BufferError):
    """An ask was given up: while it waited, the peer sent more than the inbound backlog
    holds (`Options.inbound_backlog_bytes`), and its reply could only be behind that."""


class ConnectionRefusedByPeerError(NeffosError, ConnectionRefusedError):
    """The server refused the connection during the handshake (``H<text>``)."""


class UpgradeRefusedError(NeffosError, ConnectionRefusedError):
    """The server refused an upgrade request before any websocket opened: it is closed or full,
    the page's origin is not allowed, or the connection id is invalid. ``status`` is the HTTP
    status of the answer (503, 403, 400); the text is the answer's."""

    def __init__(self, text: str, *, status: int) -> None:
        super().__init__(text)
        self.status = status


class HandshakeError(NeffosError, ConnectionError):
    """The websocket opened but the neffos handshake did not complete."""


class ServerClosedError(NeffosError, RuntimeError):
    """The server is closed and accepts no new work."""


class NoRecipientError(NeffosError, LookupError):
    """No connection matches a server ask (namespace, room and ``to``)."""


class PayloadTooLargeError(NeffosError, ValueError):
    """A message is too large for the scale-out broker (its ``max_payload``): nothing of it was
    sent, to this node's connections or to others. ``size`` and ``limit`` are in bytes."""

    def __init__(self, text: str, *, size: int, limit: int) -> None:
        super().__init__(text)
        self.size = size
        self.limit = limit


_KNOWN: dict[str, type[NeffosError]] = {
    BAD_NAMESPACE: BadNamespaceError,
    BAD_ROOM: BadRoomError,
    WRITE_CLOSED: WriteClosedError,
    INVALID_PAYLOAD: InvalidPayloadError,
}


def resolve_remote_error(text: str) -> NeffosError:
    """Turn an error text from the wire into the matching typed error (neffos resolveError)."""
    known = _KNOWN.get(text)
    if known is not None:
        return known()
    return RemoteError(text)


def error_text(exc: BaseException) -> str:
    """Give the wire text for *exc*: ``str(exc)``, never empty, as an empty text reads as
    success (docs/protocol.md#error-text-never-empty).

    The exception's class name stands in for an empty text, and goes before a thin one
    that only repeats its argument (``KeyError('b')`` gives ``KeyError: 'b'``, not ``'b'``).
    """
    text = str(exc)
    if not text:
        return type(exc).__name__
    args = exc.args
    if len(args) == 1 and text == repr(args[0]):
        return f"{type(exc).__name__}: {text}"
    return text
