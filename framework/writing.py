"""What a connection may write, and how its answers go out: the write policy over its `Outbox`.

* Before anything but a request reaches a namespace, it must be connected, and a room joined
  (neffos ``canWrite``; docs/protocol.md#room-messages). Native messages go raw to a
  native-only peer, else as ``_OnNativeMessage`` of namespace ``""`` (docs/protocol.md#native-messages).
* An answer reuses the ask's token, names and frame type (docs/protocol.md#reply-fields) and
  jumps the queue (docs/protocol.md#reply-order); the last answered token is remembered, so an
  ask is never answered twice. Error replies are text, with the names they echo clipped to
  `Options.max_name_length`.
* Once the connection starts closing (`closing`), nothing more is written.

A `Writer` knows no connection: it is made for each socket of a connection, from its
`Outbox` and the connection's namespaces (a mapping of things with ``rooms``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .events import (
    ON_NAMESPACE_CONNECT,
    ON_NAMESPACE_DISCONNECT,
    ON_NATIVE_MESSAGE,
    ON_ROOM_JOIN,
    ON_ROOM_LEFT,
)
from .limits import clip
from .message import Message
from .outbox import Outbox
from .protocol import Frame, empty_reply, encode, encode_fields, encode_native


class Joined(Protocol):
    """A connected namespace, as far as writing is concerned: the rooms it joined."""

    @property
    def rooms(self) -> Mapping[str, object]: ...


class Writer:
    """The outbound half of one connection; see the module docstring."""

    __slots__ = ("_name_limit", "_namespaces", "_native_only", "answered", "closing", "outbox")

    def __init__(
        self, outbox: Outbox, namespaces: Mapping[str, Joined], *, native_only: bool, name_limit: int
    ) -> None:
        self.outbox = outbox
        self._namespaces = namespaces
        self._native_only = native_only
        self._name_limit = name_limit
        self.closing = False
        """Set once the connection starts closing: nothing more is written."""
        self.answered = ""
        """The token of the last ask this side answered."""

    def send(self, frame: Frame, *, urgent: bool = False) -> bool:
        """Queue one encoded frame; return False if the connection is closing or closed."""
        if self.closing:
            return False
        return self.outbox.put(frame, urgent=urgent)

    def write(self, msg: Message) -> bool:
        """Write *msg* as it is, unless the policy refuses it (then return False)."""
        if msg.is_native:
            if self._native_only:
                return self.send(encode_native(msg.body, binary=msg.is_binary))
            if "" not in self._namespaces:
                return False
            return self.send(encode(Message("", ON_NATIVE_MESSAGE, msg.body, is_binary=msg.is_binary)))
        event = msg.event
        if event != ON_NAMESPACE_CONNECT and event != ON_NAMESPACE_DISCONNECT:
            ns = self._namespaces.get(msg.namespace)
            if ns is None:
                return False
            if msg.room and event != ON_ROOM_JOIN and event != ON_ROOM_LEFT and msg.room not in ns.rooms:
                return False
        return self.answer(msg.wait, encode(msg))

    def reply(self, msg: Message, body: bytes) -> None:
        """Answer *msg* with *body*, reusing its token, names and frame type."""
        wait = msg.wait
        frame = encode_fields(wait, msg.namespace, msg.room, msg.event, body, binary=msg.is_binary)
        # `answer`, inline: every reply to an ask comes this way.
        if wait:
            self.answered = wait
        if not self.closing:
            self.outbox.put(frame, urgent=bool(wait))

    def reply_error(self, msg: Message, text: str) -> None:
        """Answer *msg* with an error reply carrying *text* (never megabytes of echoed names)."""
        namespace, room, event = msg.namespace, msg.room, msg.event
        limit = self._name_limit
        if len(namespace) + len(room) + len(event) > limit:
            namespace, room, event = clip(namespace, limit), clip(room, limit), clip(event, limit)
        # Always text: neffos.js reads a binary error as "[object ArrayBuffer]".
        self.answer(msg.wait, encode_fields(msg.wait, namespace, room, event, b"", err=text))

    def reply_empty(self, wait: str) -> None:
        """Send the empty reply ``<wait>;;;;;;`` (the positive answer to a request)."""
        self.answer(wait, empty_reply(wait))

    def answer(self, wait: str, frame: Frame) -> bool:
        """Send *frame*; when it answers an ask (*wait*), remember that and let it jump the queue."""
        if wait:
            self.answered = wait
        if self.closing:
            return False
        return self.outbox.put(frame, urgent=bool(wait))
