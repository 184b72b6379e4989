"""The AsyncAPI 3.0 document writer behind `aioneffos.controllers.asyncapi.asyncapi`.

`DocumentWriter` turns `NamespaceContract` values into channels, operations and
components; JSON Schemas come from each contract's `BodyCodec` (msgspec).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from aioneffos.framework import (
    ON_ANY_EVENT,
    ON_NAMESPACE_CONNECT,
    ON_NAMESPACE_CONNECTED,
    ON_NAMESPACE_DISCONNECT,
    ON_NATIVE_MESSAGE,
    ON_ROOM_JOIN,
    ON_ROOM_JOINED,
    ON_ROOM_LEAVE,
    ON_ROOM_LEFT,
)

from .bodies import DEFAULT_CODEC, BodyCodec
from .contract import Emit, EventContract, NamespaceContract
from .errors import ContractError

ASYNCAPI_VERSION = "3.0.0"
SCHEMA_REF = "#/components/schemas/{name}"
FRAME_TRAIT = "#/components/messageTraits/neffosFrame"

WIRE = """\
This server speaks the **neffos** websocket protocol, as the neffos.js and Go neffos \
clients do: use one of them, and it does the framing below.

* Handshake: once the websocket is open the client sends `M`; the server answers \
`A<connection id>`, or `H<reason>` and a close frame when it refuses the connection.
* Every other text frame is one message of seven `;`-separated fields: \
`wait;namespace;room;event;isError;isNoOp;body`. The body is everything after the sixth \
`;`; binary frames carry the same fields. The other fields are this document's message \
headers.
* An ask carries a wait token; its answer carries the same token with the body, an \
error (`isError` 1, the error text as the body), or nothing (an empty reply).
* A client connects to a namespace (one channel here) with `_OnNamespaceConnect` before \
sending its events, and joins rooms with `_OnRoomJoin`; the server may send these \
requests too (a server-initiated connect, join, leave or disconnect), and neffos clients \
answer them by themselves."""

NATIVE = """\
This server is **native-only**: plain websocket frames, no neffos handshake and no \
neffos fields, so any WebSocket client can talk to it."""

SYSTEM_REQUESTS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    ON_NAMESPACE_CONNECT: ("Connect to the namespace.", (ON_NAMESPACE_CONNECT, ON_NAMESPACE_CONNECTED)),
    ON_NAMESPACE_DISCONNECT: ("Disconnect from the namespace.", (ON_NAMESPACE_DISCONNECT,)),
    ON_ROOM_JOIN: ("Join the room given in the `room` field.", (ON_ROOM_JOIN, ON_ROOM_JOINED)),
    ON_ROOM_LEAVE: ("Leave the room given in the `room` field.", (ON_ROOM_LEAVE, ON_ROOM_LEFT)),
}
"""The requests a peer sends on the wire, with their summary and the hooks that answer them."""

_KEY = re.compile(r"[^A-Za-z0-9_.-]+")


def _key(name: str, taken: Iterable[str]) -> str:
    """Make a component key (``[A-Za-z0-9_.-]``) from *name*, unlike any key in *taken*."""
    base = _KEY.sub("_", name)
    if base != name:  # "/v1" is "v1", while "_OnRoomJoin" stays itself
        base = base.strip("_")
    base = base or "root"
    taken = set(taken)
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


def _split_doc(doc: str) -> dict[str, str]:
    """Give a docstring's first paragraph as ``summary`` and the rest as ``description``."""
    if not doc:
        return {}
    first, _, rest = doc.partition("\n\n")
    described = {"summary": " ".join(first.split())}
    if rest.strip():
        described["description"] = rest.strip()
    return described


def _ref(*parts: str) -> dict[str, str]:
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in parts)
    return {"$ref": "#/" + "/".join(escaped)}


@attrs.define
class DocumentWriter:
    """Accumulates the channels and operations of a document, and the JSON types to describe."""

    native_only: bool
    channels: dict[str, Any] = attrs.Factory(dict)
    operations: dict[str, Any] = attrs.Factory(dict)
    payloads: list[tuple[dict[str, Any], Any, BodyCodec, str]] = attrs.Factory(list)
    """Payload dicts to fill with a schema: (payload holder, type, codec, where)."""

    def namespace(self, namespace: NamespaceContract) -> None:
        channel_id = _key(namespace.name, self.channels)
        messages: dict[str, Any] = {}
        title = "Native websocket frames" if self.native_only else f"Namespace {namespace.name!r}"
        channel: dict[str, Any] = {"title": title}
        owners = [doc or name for name, doc in namespace.owners]
        lines = [f"Served by {', '.join(name for name, _ in namespace.owners)}."] if owners else []
        lines += [doc for _, doc in namespace.owners if doc]
        if self.native_only:
            channel["address"] = None
            lines.append("Raw websocket frames, no namespace or room.")
        else:
            channel["address"] = f"{namespace.name}/{{room}}"
            channel["parameters"] = {
                "room": {
                    "description": "The room of the message; empty for the namespace as a whole.",
                    "location": "$message.header#/room",
                }
            }
            channel["bindings"] = {"ws": {"method": "GET", "bindingVersion": "0.1.0"}}
        if lines:
            channel["description"] = "\n\n".join(lines)
        channel["messages"] = messages
        channel["x-neffos-namespace"] = namespace.name
        self.channels[channel_id] = channel
        context = _Channel(self, channel_id, messages)
        # The application's own events first: what a reader looks for; the protocol's after.
        for contract in namespace.events:
            context.receive(contract)
        if namespace.native:
            context.native_receive()
        for emit, codec in namespace.emits:
            context.send(emit, codec)
        if not self.native_only:
            for request in SYSTEM_REQUESTS:
                context.system(request, namespace)

    def describe(self, holder: dict[str, Any], kind: Any, codec: BodyCodec | None, where: str) -> None:
        """Set *holder*'s ``payload`` and ``contentType`` for body type *kind*."""
        if kind is str:
            holder["contentType"] = "text/plain"
            holder["payload"] = {"type": "string"}
        elif kind in (bytes, bytearray, memoryview):
            holder["contentType"] = "application/octet-stream"
            holder["payload"] = {"type": "string", "format": "binary"}
        elif kind is not None:
            holder["contentType"] = "application/json"
            self.payloads.append((holder, kind, codec or DEFAULT_CODEC, where))

    def components(self) -> dict[str, Any]:
        """Give ``components``: the named schemas of every payload, and the neffos frame trait."""
        schemas: dict[str, Any] = {}
        by_codec: dict[BodyCodec, list[tuple[dict[str, Any], Any, str]]] = {}
        for holder, kind, codec, where in self.payloads:
            by_codec.setdefault(codec, []).append((holder, kind, where))
        for codec, entries in by_codec.items():
            try:
                found, named = codec.schemas([kind for _, kind, _ in entries], SCHEMA_REF)
            except (TypeError, ValueError) as exc:
                where = ", ".join(sorted({where for _, _, where in entries}))
                raise ContractError(f"cannot describe the bodies of {where} in JSON Schema: {exc}") from exc
            for (holder, _, _), schema in zip(entries, found, strict=True):
                holder["payload"] = schema
            for name, schema in named.items():
                if schemas.setdefault(name, schema) != schema:
                    raise ContractError(f"two different types are both named {name!r} in the document")
        components: dict[str, Any] = {"schemas": schemas}
        if not self.native_only:
            components["messageTraits"] = {"neffosFrame": _frame_trait()}
        return components


@attrs.define
class _Channel:
    """Writes the messages and operations of one channel."""

    writer: DocumentWriter
    channel_id: str
    messages: dict[str, Any]

    def message(
        self, key: str, name: str, doc: str, kind: Any, codec: BodyCodec | None, where: str
    ) -> dict[str, Any]:
        key = _key(key, self.messages)
        message: dict[str, Any] = {"name": name, **_split_doc(doc)}
        self.writer.describe(message, kind, codec, where)
        if not self.writer.native_only:
            message["traits"] = [{"$ref": FRAME_TRAIT}]
        self.messages[key] = message
        return _ref("channels", self.channel_id, "messages", key)

    def common(self, key: str, doc: str) -> dict[str, str]:
        """Give the reference of the channel's shared message *key* (``error``, ``empty``)."""
        if key not in self.messages:
            message: dict[str, Any] = {"name": key, **_split_doc(doc)}
            if key == "error":
                message.update(contentType="text/plain", payload={"type": "string"})
            message["traits"] = [{"$ref": FRAME_TRAIT}]
            self.messages[key] = message
        return _ref("channels", self.channel_id, "messages", key)

    def error(self) -> dict[str, str]:
        return self.common("error", "An error reply: `isError` is 1 and the body is the error text.")

    def empty(self) -> dict[str, str]:
        return self.common("empty", "An empty reply: no body, the request was accepted.")

    def operation(self, action: str, event: str, spec: dict[str, Any]) -> None:
        op_id = _key(f"{self.channel_id}.{action}.{event}", self.writer.operations)
        self.writer.operations[op_id] = {
            "action": action,
            "channel": _ref("channels", self.channel_id),
            **spec,
        }

    def system(self, request: str, namespace: NamespaceContract) -> None:
        summary, hooks = SYSTEM_REQUESTS[request]
        message = self.message(request, request, summary, None, None, request)
        lines = []
        for hook in hooks:
            for contract in namespace.hooks.get(hook, ()):
                if contract.doc:
                    lines.append(f"{contract.source}: {contract.doc}")
        spec: dict[str, Any] = {"title": request, "summary": summary}
        refusable = request in (ON_NAMESPACE_CONNECT, ON_ROOM_JOIN, ON_ROOM_LEAVE)
        note = "Asked; answered with an empty reply, or an error reply when it is refused."
        spec["description"] = "\n\n".join(
            [note if refusable else "Asked; answered with an empty reply.", *lines]
        )
        spec["messages"] = [message]
        replies = [self.empty(), self.error()] if refusable else [self.empty()]
        spec["reply"] = {"channel": _ref("channels", self.channel_id), "messages": replies}
        self.operation("receive", request, spec)

    def receive(self, contract: EventContract) -> None:
        event = contract.event
        where = contract.source
        if event == ON_ANY_EVENT:
            name, summary = "*", "Any other event: answered by the namespace's `_OnAnyEvent` handler."
            message = self.message(ON_ANY_EVENT, name, contract.doc or summary, None, None, where)
        else:
            message = self.message(event, event, contract.doc, contract.body, contract.codec, where)
        spec: dict[str, Any] = {"title": event, **_split_doc(contract.doc)}
        spec["messages"] = [message]
        if contract.reply is not None:
            reply = self.message(
                f"{event}_reply", event, f"The reply to {event}.", contract.reply, contract.codec, where
            )
            spec["reply"] = {"channel": _ref("channels", self.channel_id), "messages": [reply, self.error()]}
        spec["x-aioneffos-handler"] = where
        self.operation("receive", event, spec)

    def native_receive(self) -> None:
        doc = "A native message: a raw websocket frame (text or binary) that is no neffos message."
        message = self.message("native", ON_NATIVE_MESSAGE, doc, None, None, ON_NATIVE_MESSAGE)
        self.operation(
            "receive", ON_NATIVE_MESSAGE, {"title": ON_NATIVE_MESSAGE, "summary": doc, "messages": [message]}
        )

    def send(self, emit: Emit, codec: BodyCodec | None) -> None:
        where = f"emits({emit.event!r})"
        if emit.event == ON_NATIVE_MESSAGE:
            doc = emit.summary or "A raw websocket frame from the server."
            message_key = "native_sent"
            message = self.message(message_key, ON_NATIVE_MESSAGE, doc, emit.body, codec, where)
        else:
            message_key = emit.event if emit.event not in self.messages else f"{emit.event}_sent"
            message = self.message(message_key, emit.event, emit.summary, emit.body, codec, where)
        spec: dict[str, Any] = {"title": emit.event, **_split_doc(emit.summary)}
        spec["messages"] = [message]
        if emit.reply is not None:
            doc = f"The peer's reply to {emit.event}."
            reply = self.message(f"{message_key}_reply", emit.event, doc, emit.reply, codec, where)
            spec["reply"] = {"channel": _ref("channels", self.channel_id), "messages": [reply, self.error()]}
        self.operation("send", emit.event, spec)


def _frame_trait() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "headers": {
            "type": "object",
            "description": "The neffos frame fields besides the body.",
            "properties": {
                "wait": {
                    **text,
                    "description": "The ask's wait token, echoed by its reply; empty otherwise.",
                },
                "namespace": {**text, "description": "The namespace: the channel."},
                "room": {**text, "description": "The room; empty for the namespace as a whole."},
                "event": {**text, "description": "The event: the message's name."},
                "isError": {"type": "boolean", "description": "The body is an error text (`1` on the wire)."},
                "isNoOp": {"type": "boolean", "description": "A message with no effect (`1` on the wire)."},
            },
        },
        "correlationId": {
            "description": "An ask and its reply carry the same wait token.",
            "location": "$message.header#/wait",
        },
    }
