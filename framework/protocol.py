"""The neffos wire codec: the 7-field message format, escaping, wait tokens, frames, and the
protocol's constants (handshake frames, close codes, headers).

A message is seven fields joined by ``;``: wait, namespace, room, event, isError, isNoOp
and body. Only namespace, room and event are escaped; the body is everything after the
sixth separator and may itself contain ``;`` (docs/protocol.md#wire-format).
"""

from __future__ import annotations

from enum import IntEnum

import attrs

from .events import ON_NATIVE_MESSAGE
from .message import Message


class CloseCode(IntEnum):
    """The websocket close codes aioneffos sends (RFC 6455 section 7.4; docs/protocol.md#close-codes)."""

    NORMAL = 1000
    """A close asked for by either side (``conn.close()``, ``server.close_connection``)."""
    GOING_AWAY = 1001
    """The server shuts down (``server.close()``, the application's shutdown)."""
    POLICY_VIOLATION = 1008
    """A refusal: ``on_connect`` raised, no handshake, a read timeout, a slow consumer, a peer
    past its rate limit."""
    MESSAGE_TOO_BIG = 1009
    """A frame larger than `Options.max_message_size`."""
    TRY_AGAIN_LATER = 1013
    """The server is full (`Options.max_connections`) for an upgrade that raced past the 503."""


SLOW_CONSUMER = "slow consumer"
"""The reason of the close (1008) of a peer whose outbound queue is full (`Options.outbound_queue_size`)."""
READ_TIMEOUT = "read timeout"
"""The reason of the close (1008) of a peer that sent nothing for `Options.read_timeout`."""
TOO_MANY_CONNECTIONS = "too many connections"
"""The reason of the close (1013) of an upgrade past `Options.max_connections`."""
SERVER_SHUTDOWN = "server shutdown"
"""The reason of the close (1001) of every connection when the server shuts down."""
HANDSHAKE_TIMEOUT = "handshake timeout"
"""The reason of the close (1008) of a peer that did not send ``M`` within `Options.handshake_timeout`."""
NO_HANDSHAKE = "expected the neffos handshake (M)"
"""The reason of the close (1008) of a peer that sent too much before ``M``."""
ADMIN_DISCONNECT = "disconnected by an administrator"
"""The reason of the close (1008) of a connection an operator closed from the admin page."""


RECONNECT_HEADER = "X-Websocket-Reconnect"
"""The request header (or query parameter) counting a client's reconnection attempts."""
HEADER_PARAM_PREFIX = "x-websocket-header-"
"""Query parameters named ``X-Websocket-Header-<Name>`` become request header ``<Name>``
(browsers cannot set websocket headers; neffos.js sends them this way)."""

ESCAPED_SEMICOLON = "@%!semicolon@%!"
ACK_REQUEST = "M"
"""The client's first frame: "I am a neffos client, acknowledge me"."""
ACK_OK = "A"
"""Prefix of the server's ack; the rest of the frame is the connection id."""
ACK_REFUSED = "H"
"""Prefix of the server's refusal; the rest of the frame is the error text."""


def escape(name: str) -> str:
    """Escape ``;`` in a namespace, room or event name."""
    return name.replace(";", ESCAPED_SEMICOLON) if ";" in name else name


def unescape(name: str) -> str:
    """Undo `escape`."""
    return name.replace(ESCAPED_SEMICOLON, ";") if "@%!" in name else name


def _is_utf8(body: bytes) -> bool:
    if body.isascii():
        return True
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


class Frame:
    """One encoded message: its payload and frame type, shared by every recipient of a broadcast."""

    __slots__ = ("payload", "text", "wire")

    def __init__(self, payload: bytes, text: bool) -> None:
        self.payload = payload
        self.text = text
        self.wire: bytes | None = None
        """The bytes a transport made of this frame (a server's websocket frame), kept by the
        transport so that a broadcast is framed once for all its recipients."""

    @property
    def opcode(self) -> int:
        """Give the websocket opcode: 1 for text, 2 for binary."""
        return 1 if self.text else 2

    def __repr__(self) -> str:
        kind = "text" if self.text else "binary"
        return f"Frame({kind}, {self.payload[:80]!r})"


_new = object.__new__


def encode_fields(
    wait: str,
    namespace: str,
    room: str,
    event: str,
    body: bytes,
    *,
    err: str | None = None,
    binary: bool = False,
) -> Frame:
    """Encode one message from its fields into a frame.

    An error text that is empty becomes ``"error"``: an empty one reads as success
    (docs/protocol.md#error-text-never-empty). A body that is not valid UTF-8 goes in a
    binary frame, never a broken text frame (docs/protocol.md#utf8-text).
    """
    if ";" in namespace or ";" in room or ";" in event:
        namespace, room, event = escape(namespace), escape(room), escape(event)
    if err is not None:
        header = f"{wait};{namespace};{room};{event};1;0;"
        body = (err or "error").encode()
    else:
        header = f"{wait};{namespace};{room};{event};0;0;"
    # `Frame(...)` without its __init__ frame: one per reply and emit.
    frame: Frame = _new(Frame)
    frame.payload = header.encode() + body
    frame.text = not binary and (body.isascii() or _is_utf8(body))
    frame.wire = None
    return frame


def encode(msg: Message) -> Frame:
    """Encode *msg* into a frame; the local-only fields are not written."""
    return encode_fields(
        msg.wait,
        msg.namespace,
        msg.room,
        msg.event,
        msg.body,
        err=msg.err,
        binary=msg.is_binary,
    )


def encode_native(body: bytes, *, binary: bool = False) -> Frame:
    """Encode a raw native frame (only for peers in native-only mode, docs/protocol.md#native-only)."""
    return Frame(body, not binary and _is_utf8(body))


def empty_reply(wait: str) -> Frame:
    """Encode the empty reply ``<wait>;;;;;;``, the positive answer to a system request."""
    return Frame(f"{wait};;;;;;".encode(), True)


def decode(data: str | bytes, *, allow_native: bool = False) -> Message | None:
    """Decode one frame: ``str`` for text frames, ``bytes`` for binary ones.

    Return ``None`` for an invalid frame (empty, too few fields, or a header that is not
    UTF-8). With *allow_native*, a frame with too few fields becomes a native message
    for namespace ``""``. An isError of 1 with an empty text is no error, as in Go.
    """
    if not data:
        return None
    if type(data) is str:
        parts = data.split(";", 6)
        if len(parts) != 7:
            return _native(data.encode(), False) if allow_native else None
        wait, ns, room, event, is_err, noop, text_body = parts
        body = text_body.encode()
        binary = False
        escaped = "@%!" in data  # a cheap test for all three names (the body may give a false hit)
    else:
        assert isinstance(data, bytes)
        parts_b = data.split(b";", 6)
        if len(parts_b) != 7:
            return _native(data, True) if allow_native else None
        try:
            wait, ns, room, event, is_err, noop = (p.decode() for p in parts_b[:6])
        except UnicodeDecodeError:
            return None
        body = parts_b[6]
        binary = True
        escaped = True
    if escaped:
        ns, room, event = unescape(ns), unescape(room), unescape(event)
    err: str | None = None
    if is_err == "1" and body:
        err = body.decode(errors="replace")
        body = b""
    # `Message(ns, event, body, room, err, wait, "", binary, False, noop == "1")`, without its
    # __init__ frame and body converter (the fields are of the right types): once per frame.
    msg: Message = _new(Message)
    msg.namespace = ns
    msg.event = event
    msg.body = body
    msg.room = room
    msg.err = err
    msg.wait = wait
    msg.to = ""
    msg.is_binary = binary
    msg.is_native = False
    msg.is_noop = noop == "1"
    msg.is_local = False
    msg.is_forced = False
    return msg


_MESSAGE_FIELDS = (
    "namespace", "event", "body", "room", "err", "wait", "to",
    "is_binary", "is_native", "is_noop", "is_local", "is_forced",
)  # fmt: skip
"""What `decode` sets on the `Message` it builds without its __init__."""
if tuple(field.name for field in attrs.fields(Message)) != _MESSAGE_FIELDS:  # pragma: no cover
    raise AssertionError("Message's fields changed: update decode")


def _native(body: bytes, binary: bool) -> Message:
    return Message("", ON_NATIVE_MESSAGE, body, is_binary=binary, is_native=True)


def decode_native(data: str | bytes) -> Message | None:
    """Decode a frame of a native-only connection: the whole frame is the body, even one
    with six ``;`` (docs/protocol.md#native-only, neffos ``shouldHandleOnlyNativeMessages``).

    Return ``None`` for an empty frame.
    """
    if not data:
        return None
    if type(data) is str:
        return _native(data.encode(), False)
    assert isinstance(data, bytes)
    return _native(data, True)


class Tokens:
    """Makes one side's ask tokens (decimal, after an optional prefix) and recognises them.

    A frame that carries a token we made but that no ask waits for any more is a late
    reply to an ask that timed out: it is dropped, never dispatched as a new event.
    """

    __slots__ = ("_last", "_prefix", "first_chars")

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self._last = 0
        self.first_chars = frozenset(prefix[:1] or "123456789")
        """The characters our tokens can start with: a cheap test before `issued`."""

    def next(self) -> str:
        """Make a fresh token."""
        self._last += 1
        return f"{self._prefix}{self._last}"

    def issued(self, token: str) -> bool:
        """Tell whether *token* was made here."""
        prefix = self._prefix
        if prefix and not token.startswith(prefix):
            return False
        digits = token[len(prefix) :]
        return digits.isascii() and digits.isdigit() and digits[0] != "0" and int(digits) <= self._last
