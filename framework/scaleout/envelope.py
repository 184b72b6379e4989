"""The bus format of the scale-out exchanges: versioned envelopes and channel names.

Every message between nodes is one envelope, never pickle (docs/protocol.md#bus-envelope)::

    envelope = VERSION (1 byte, 0x01) + header + b"\\n" + body
    header   = a compact JSON object in ASCII (so it holds no raw newline)
    body     = the message body, raw bytes (not base64)

Header keys, left out when empty, zero or false: ``k`` kind (required), ``o`` sending
node (required), ``t`` token and ``q`` asking node (asks, replies and counts correlate on
``(q, t)``), ``ns`` namespace, ``r`` room, ``e`` event, ``to`` target connection id,
``xk`` excluded connection key, ``xi`` excluded connection id, ``bin`` binary body,
``err`` error text, ``n`` a connection count, ``code``/``why`` a close code and reason,
``ttl`` the milliseconds an ask may take, ``rv`` the sending node's roster version,
``ep``/``s`` the sending link's epoch and the message's number on its channel.
Unknown keys are ignored, so version 1 can grow; a new major layout gets a new version
byte, and `decode` refuses what it does not know with `IncompatibleEnvelopeError`, which
the receiver logs and skips (docs/protocol.md#bus-versions).
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
import msgspec

from ..exchange import NO_EXCLUSION, Exclusion, Target
from ..message import Message

VERSION = 1
"""The envelope layout this module writes and reads."""
_VERSION_BYTE = bytes((VERSION,))
DEFAULT_CLOSE_CODE = 1000
"""The close code of a CLOSE envelope without ``code``: the websocket normal closure."""


class EnvelopeKind:
    """Envelope kinds (the ``k`` header; docs/protocol.md#bus-kinds)."""

    PUBLISH = "pub"
    """A broadcast or ``to=`` send: deliver to matching local connections."""
    ASK = "ask"
    """A server ask: ask matching local connections, answer with REPLY or NONE."""
    REPLY = "rep"
    """A connection's reply to an ASK (``err`` set for an error reply)."""
    NONE = "none"
    """The answering node has no matching connection for an ASK."""
    CLOSE = "close"
    """Close every local connection with id ``to``."""
    COUNT_REQUEST = "count?"
    """Answer with COUNT: how many connections this node has."""
    COUNT = "count"
    """A node's connection count (``n``), answering COUNT_REQUEST."""
    HELLO = "hello"
    """A node (re)joined the bus; every node answers with BEAT."""
    BEAT = "beat"
    """A node is alive and has ``n`` connections."""
    BYE = "bye"
    """A node leaves the bus."""
    MEMBER = "member"
    """A connection joined or left a namespace or room (JSON body); ``rv`` is the new roster version."""
    ROSTER_REQUEST = "roster?"
    """Send your roster (a snapshot) to the asking node, with token ``t``."""
    ROSTER = "roster"
    """One part of a node's roster at version ``rv`` (JSON body), answering ``roster?`` ``t``."""
    ROOM_JOIN = "room+"
    """Make the local connections with id ``to`` in ``ns`` join room ``r``; answer REPLY (``n``) or NONE."""
    ROOM_LEAVE = "room-"
    """Make the local connections with id ``to`` in ``ns`` leave room ``r``; answer REPLY (``n``) or NONE."""


class IncompatibleEnvelopeError(ValueError):
    """An envelope this version cannot read (another version, or not an envelope at all)."""

    def __init__(self, text: str, version: int | None = None) -> None:
        super().__init__(text)
        self.version = version


@attrs.frozen(slots=False)  # made for every message on the bus: without slots, __init__ is 40 % cheaper
class Envelope:
    """One message on the bus: what it is, who sent it, and the neffos message it carries."""

    kind: str
    origin: str
    """The node that sent this envelope."""
    message: Message = attrs.field(factory=Message)
    exclusion: Exclusion = NO_EXCLUSION
    token: str = ""
    """The asking node's token; ``(asker, token)`` identifies an ask or a count."""
    asker: str = ""
    """The node that asked (on REPLY, NONE and COUNT)."""
    count: int = 0
    code: int = 0
    reason: str = ""
    ttl_ms: int = 0
    roster: int = 0
    """The sending node's roster version (``hello``, ``beat``, ``member``, ``roster``)."""
    epoch: int = 0
    """The sending node's link epoch (``pub``, ``close``): numbering restarts with each link."""
    seq: int = 0
    """The message's number on its channel within *epoch*, from 1 (``pub``, ``close``)."""


def encode(env: Envelope) -> bytes:
    """Serialize *env* (see the module docstring for the exact layout)."""
    msg = env.message
    head: dict[str, Any] = {"k": env.kind, "o": env.origin}
    if env.token:
        head["t"] = env.token
    if env.asker:
        head["q"] = env.asker
    if msg.namespace:
        head["ns"] = msg.namespace
    if msg.room:
        head["r"] = msg.room
    if msg.event:
        head["e"] = msg.event
    if msg.to:
        head["to"] = msg.to
    if env.exclusion.conn_key:
        head["xk"] = env.exclusion.conn_key
    if env.exclusion.conn_id:
        head["xi"] = env.exclusion.conn_id
    if msg.is_binary:
        head["bin"] = 1
    if msg.err is not None:
        head["err"] = msg.err
    if env.count:
        head["n"] = env.count
    if env.code:
        head["code"] = env.code
    if env.reason:
        head["why"] = env.reason
    if env.ttl_ms:
        head["ttl"] = env.ttl_ms
    if env.roster:
        head["rv"] = env.roster
    if env.seq:
        head["ep"] = env.epoch
        head["s"] = env.seq
    header = _ascii_json(head)
    return b"".join((_VERSION_BYTE, header, b"\n", msg.body))


_encode_header = msgspec.json.Encoder().encode


def _ascii_json(head: dict[str, Any]) -> bytes:
    """Give *head* as compact JSON in ASCII, byte for byte what ``json.dumps`` writes."""
    try:
        header = _encode_header(head)
        if header.isascii() and b"\x7f" not in header:
            return header
    except UnicodeEncodeError:  # a lone surrogate, which json.dumps escapes
        pass
    # Non-ASCII text and DEL are \u escapes in json.dumps (msgspec writes them raw).
    return json.dumps(head, separators=(",", ":")).encode()


def with_sequence(data: bytes, prefix: bytes, epoch: int, seq: int) -> bytes:
    """Give envelope *data*, which starts with *prefix* (its `head_prefix`), numbered: ``ep`` and
    ``s`` go right after the sending node, before any other key."""
    cut = len(prefix) - 1  # the comma after "o", or the header's end when nothing follows
    return b"".join((data[:cut], b',"ep":%d,"s":%d' % (epoch, seq), data[cut:]))


def head_prefix(kind: str, origin: str) -> bytes:
    """Give the first bytes of every envelope of *kind* from *origin* (`encode` writes ``k`` and
    ``o`` first), to recognise one's own envelopes without decoding them."""
    head = json.dumps({"k": kind, "o": origin}, separators=(",", ":"))
    return _VERSION_BYTE + head[:-1].encode() + b","


_STRING_KEYS = frozenset({"k", "o", "t", "q", "ns", "r", "e", "to", "xk", "xi", "err", "why"})
_NUMBER_KEYS = frozenset({"n", "code", "ttl", "rv", "ep", "s"})


def _check(head: dict[str, Any]) -> None:
    """Raise `IncompatibleEnvelopeError` when a known header key holds the wrong type (one
    look at each key present, rather than one call per key read)."""
    for key, value in head.items():
        if key in _STRING_KEYS:
            if type(value) is not str:
                raise IncompatibleEnvelopeError(f"header {key!r} is not a string", VERSION)
        elif key in _NUMBER_KEYS and type(value) is not int:
            raise IncompatibleEnvelopeError(f"header {key!r} is not an integer", VERSION)


class _Header(msgspec.Struct, gc=False):
    """The header keys `decode` reads, typed as `_check` wants them (unknown keys are skipped)."""

    k: str = ""
    o: str = ""
    t: str = ""
    q: str = ""
    ns: str = ""
    r: str = ""
    e: str = ""
    to: str = ""
    xk: str = ""
    xi: str = ""
    bin: Any = None
    err: str | msgspec.UnsetType = msgspec.UNSET  # null is refused, as `_check` refuses it
    n: int = 0
    code: int = 0
    why: str = ""
    ttl: int = 0
    rv: int = 0
    ep: int = 0
    s: int = 0


_decode_header = msgspec.json.Decoder(_Header).decode
_HEADER_REFUSED = (msgspec.DecodeError, msgspec.ValidationError)


def decode(data: bytes) -> Envelope:
    """Parse an envelope; raise `IncompatibleEnvelopeError` when it cannot be read."""
    if not data:
        raise IncompatibleEnvelopeError("empty envelope")
    if data[0] != VERSION:
        raise IncompatibleEnvelopeError(f"envelope version {data[0]}, expected {VERSION}", data[0])
    end = data.find(b"\n", 1)
    if end < 0:
        raise IncompatibleEnvelopeError("envelope header has no end", VERSION)
    try:
        head = _decode_header(data[1:end])
    except _HEADER_REFUSED:
        # What msgspec refuses (NaN, UTF-16, a key twice with types that differ, a wrong
        # type) goes the general way, which accepts it or explains the refusal.
        return _decode_json(data, end)
    err = head.err
    kind, origin = head.k, head.o
    if not kind or not origin:
        raise IncompatibleEnvelopeError("envelope without kind or origin", VERSION)
    xk, xi = head.xk, head.xi
    return Envelope(
        kind,
        origin,
        Message(
            head.ns,
            head.e,
            data[end + 1 :],
            head.r,
            None if err is msgspec.UNSET else err,
            to=head.to,
            is_binary=bool(head.bin),
        ),
        Exclusion(xk, xi) if xk or xi else NO_EXCLUSION,
        head.t,
        head.q,
        head.n,
        head.code,
        head.why,
        head.ttl,
        head.rv,
        head.ep,
        head.s,
    )


def _decode_json(data: bytes, end: int) -> Envelope:
    """Parse an envelope whose header ends at *end* with the json module (what msgspec refuses)."""
    try:
        head = json.loads(data[1:end])
    except ValueError as exc:
        raise IncompatibleEnvelopeError(f"envelope header is not JSON: {exc}", VERSION) from None
    if not isinstance(head, dict):
        raise IncompatibleEnvelopeError("envelope header is not an object", VERSION)
    _check(head)
    get = head.get
    kind, origin = get("k", ""), get("o", "")
    if not kind or not origin:
        raise IncompatibleEnvelopeError("envelope without kind or origin", VERSION)
    message = Message(
        get("ns", ""),
        get("e", ""),
        data[end + 1 :],
        get("r", ""),
        get("err"),
        to=get("to", ""),
        is_binary=bool(get("bin")),
    )
    excluded = get("xk", ""), get("xi", "")
    return Envelope(
        kind,
        origin,
        message,
        Exclusion(*excluded) if excluded[0] or excluded[1] else NO_EXCLUSION,
        get("t", ""),
        get("q", ""),
        get("n", 0),
        get("code", 0),
        get("why", ""),
        get("ttl", 0),
        get("rv", 0),
        get("ep", 0),
        get("s", 0),
    )


_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def channel_token(name: str) -> str:
    """Make *name* one safe channel token: itself when it is ``[A-Za-z0-9_-]+``, else
    ``~`` and its UTF-8 in hex (so ``.``, ``*``, ``>``, spaces and ``""`` are safe on NATS)."""
    if _SAFE_TOKEN.fullmatch(name):
        return name
    return "~" + name.encode().hex()


_SAFE_PREFIX = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


@attrs.frozen
class Channels:
    """The channel (Redis) or subject (NATS) names of one cluster, all under *prefix*.

    ``<prefix>.ns.<namespace>``, ``<prefix>.room.<namespace>.<room>``,
    ``<prefix>.id.<connection id>``, ``<prefix>.node.<node id>`` and ``<prefix>.all``;
    each name part is a `channel_token` (docs/protocol.md#bus-channels).
    """

    prefix: str = attrs.field(default="aioneffos")

    @prefix.validator
    def _check_prefix(self, _: object, value: str) -> None:
        if not _SAFE_PREFIX.fullmatch(value):
            raise ValueError(f"channel prefix must be dot-separated [A-Za-z0-9_-] words, got {value!r}")

    def name(self, target: Target) -> str:
        """Give the channel of *target*: its connection id, else its room, else its namespace."""
        if target.conn_id:
            return f"{self.prefix}.id.{channel_token(target.conn_id)}"
        if target.room:
            return f"{self.prefix}.room.{channel_token(target.namespace)}.{channel_token(target.room)}"
        return f"{self.prefix}.ns.{channel_token(target.namespace)}"

    def node(self, node_id: str) -> str:
        """Give the channel of one node (ask replies, counts, presence answers)."""
        return f"{self.prefix}.node.{channel_token(node_id)}"

    def all(self) -> str:
        """Give the channel every node listens to (presence, counts)."""
        return f"{self.prefix}.all"
