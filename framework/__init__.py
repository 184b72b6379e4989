"""aioneffos.framework: the neffos-compatible socket layer (server, client, aiohttp glue)."""

from .cleanup import Cleanup, run_cleanups
from .client import dial
from .conn import Conn
from .errors import (
    AskTimeoutError,
    BacklogFullError,
    BadNamespaceError,
    BadRoomError,
    ConnectionRefusedByPeerError,
    HandshakeError,
    InvalidPayloadError,
    NeffosError,
    NoRecipientError,
    PayloadTooLargeError,
    ReconnectingError,
    Refused,
    RemoteError,
    ServerClosedError,
    UpgradeRefusedError,
    WriteClosedError,
)
from .events import (
    ON_ANY_EVENT,
    ON_NAMESPACE_CONNECT,
    ON_NAMESPACE_CONNECTED,
    ON_NAMESPACE_DISCONNECT,
    ON_NATIVE_MESSAGE,
    ON_ROOM_JOIN,
    ON_ROOM_JOINED,
    ON_ROOM_LEAVE,
    ON_ROOM_LEFT,
    SYSTEM_EVENTS,
    is_system_event,
)
from .exchange import ClusterCount, Exchange, ExchangeHealth, Exclusion, LocalExchange, LocalNode, Target
from .handlers import ConnHandler, Events, Handler, Namespaces
from .memory import MemorySocket, accept_memory, dial_memory, memory_request, pipe
from .message import Message, Reply
from .ns_conn import NSConn
from .observer import Observer, Outcome
from .options import Options
from .presence import Member, Presence, PresenceEvent, PresenceListener, Roster, Seat
from .protocol import CloseCode
from .room import Room
from .server import Server, get_server
from .store import Store
from .transport import FrameSink, Socket
from .websocket import SERVER_KEY, get_request, handler, setup

__all__ = [
    "ON_ANY_EVENT",
    "ON_NAMESPACE_CONNECT",
    "ON_NAMESPACE_CONNECTED",
    "ON_NAMESPACE_DISCONNECT",
    "ON_NATIVE_MESSAGE",
    "ON_ROOM_JOIN",
    "ON_ROOM_JOINED",
    "ON_ROOM_LEAVE",
    "ON_ROOM_LEFT",
    "SERVER_KEY",
    "SYSTEM_EVENTS",
    "AskTimeoutError",
    "BacklogFullError",
    "BadNamespaceError",
    "BadRoomError",
    "Cleanup",
    "CloseCode",
    "ClusterCount",
    "Conn",
    "ConnHandler",
    "ConnectionRefusedByPeerError",
    "Events",
    "Exchange",
    "ExchangeHealth",
    "Exclusion",
    "FrameSink",
    "Handler",
    "HandshakeError",
    "InvalidPayloadError",
    "LocalExchange",
    "LocalNode",
    "Member",
    "MemorySocket",
    "Message",
    "NSConn",
    "Namespaces",
    "NeffosError",
    "NoRecipientError",
    "Observer",
    "Options",
    "Outcome",
    "PayloadTooLargeError",
    "Presence",
    "PresenceEvent",
    "PresenceListener",
    "ReconnectingError",
    "Refused",
    "RemoteError",
    "Reply",
    "Room",
    "Roster",
    "Seat",
    "Server",
    "ServerClosedError",
    "Socket",
    "Store",
    "Target",
    "UpgradeRefusedError",
    "WriteClosedError",
    "accept_memory",
    "dial",
    "dial_memory",
    "get_request",
    "get_server",
    "handler",
    "is_system_event",
    "memory_request",
    "pipe",
    "run_cleanups",
    "setup",
]
