"""The event names of the protocol: the seven system events and the two local hooks.

What handlers look like (`Handler`, `Events`, `Namespaces`, `ConnHandler`) is in
`ns_conn`; their compiled tables in `tables`.
"""

from __future__ import annotations

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
