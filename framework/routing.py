"""What an incoming message means, and how it is answered: the receiving half of the protocol.

`route` is the router of a `Conn`'s inbound loop: it gives each message to the handler of
its event (and answers with its result, an error reply or the empty reply,
docs/protocol.md#replies), or answers the peer's requests (connect, disconnect, join,
leave) itself. Every failure becomes an answer to the peer, never a crash of its
connection: a namespace not connected is `bad namespace`, a room not joined `bad room`, a
local-only system event sent from the wire `invalid payload` (docs/protocol.md#not-connected,
docs/protocol.md#wire-system-events), an unknown event `unknown event`.

The work `route` gives returns the message's `Outcome` (a constant: nothing to pay when no
observer looks), which an observer reads (`Server.observe`); the inbound loop drops it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from .errors import BAD_NAMESPACE, BAD_ROOM, INVALID_PAYLOAD, NAME_TOO_LONG, TOO_MANY_ROOMS, error_text
from .events import (
    LOCAL_ONLY_EVENTS,
    ON_NAMESPACE_CONNECT,
    ON_NAMESPACE_CONNECTED,
    ON_NAMESPACE_DISCONNECT,
    ON_NATIVE_MESSAGE,
    ON_ROOM_JOIN,
    ON_ROOM_JOINED,
    ON_ROOM_LEAVE,
    ON_ROOM_LEFT,
    WIRE_REQUESTS,
)
from .limits import clip, utf8_length
from .logs import handler_failed, unknown_event
from .message import Message, reply_body
from .ns_conn import NSConn
from .outcomes import EMPTY, LIMITED, NONE, REPLY, UNKNOWN, Outcome

if TYPE_CHECKING:
    from .conn import Conn

logger = logging.getLogger("aioneffos.handlers")


def route(conn: Conn, msg: Message) -> Awaitable[Outcome | None] | None:
    """Route *msg*, which arrived on *conn*: give the work to await (a handler, a request),
    or ``None`` when it was answered (or dropped) at once.

    A plain function, not a coroutine: one coroutine less on every message's path.
    """
    event = msg.event
    if event in WIRE_REQUESTS:
        return _answer_request(conn, msg)
    if msg.is_native:
        ns = conn.namespaces.get("")
        return run_native_handler(ns, msg) if ns is not None else None
    if event == ON_ROOM_LEFT and msg.wait.startswith("$") and not conn.is_client:
        # neffos.js leaveAll() asks with _OnRoomLeft: answer it as a leave (docs/protocol.md#leave-all).
        return _answer_request(conn, msg.evolve(event=ON_ROOM_LEAVE))
    ns = conn.namespaces.get(msg.namespace)
    if ns is None:
        if msg.wait:
            conn.writer.reply_error(msg, BAD_NAMESPACE)
        return None
    if event in LOCAL_ONLY_EVENTS:
        logger.debug("%r: dropped system event %r from the wire", conn, event)
        if msg.wait:
            conn.writer.reply_error(msg, INVALID_PAYLOAD)
        return None
    if msg.room and msg.room not in ns.rooms:
        if msg.wait:
            conn.writer.reply_error(msg, BAD_ROOM)
        return None
    return run_handler(ns, msg)


# -- events ---------------------------------------------------------------------


async def run_handler(ns: NSConn, msg: Message) -> Outcome:
    """Run the handler of an incoming user event and answer: reply, error reply or empty reply."""
    if msg.err is not None:
        # An error is always an answer (often a late one, to an ask that timed out), never
        # an ask: the handler sees it, but nothing goes back, or two peers could answer
        # each other's errors for ever.
        await ns.fire_quietly(msg.event, msg)
        return NONE
    conn = ns.conn
    writer = conn.writer
    table = ns.table
    entry = table.entries.get(msg.event)
    if entry is None:
        entry = table.on_any
        limit = conn.options.max_name_length
        if entry is None:
            event = clip(msg.event, limit)  # what is logged and remembered stays small too
            unknown_event(table.unknown, conn.id, ns.namespace, event)
            if msg.wait:
                writer.reply_error(msg, f"unknown event {event!r}")
            return UNKNOWN
        if utf8_length(msg.event) > limit:
            if msg.wait:
                writer.reply_error(msg, NAME_TOO_LONG)
            return LIMITED
    try:
        result = entry.handler(ns, msg)
        if entry.is_async or inspect.isawaitable(result):
            result = await result
        body = result if type(result) is bytes else reply_body(result)
    except Exception as exc:
        failed = handler_failed(exc, conn.id, ns.namespace, msg.event, msg.room)
        writer.reply_error(msg, error_text(exc))
        return failed
    if body is not None:
        writer.reply(msg, body)
        return REPLY
    if msg.wait and conn.options.reply_to_unanswered_asks and writer.answered != msg.wait:
        writer.reply_empty(msg.wait)
        return EMPTY
    return NONE


async def run_native_handler(ns: NSConn, msg: Message) -> Outcome:
    """Run ``_OnNativeMessage``; a returned body goes back as a native message."""
    try:
        body = reply_body(await ns.fire(ON_NATIVE_MESSAGE, msg))
    except Exception as exc:
        return handler_failed(exc, ns.conn.id, ns.namespace, ON_NATIVE_MESSAGE)
    if body is None:
        return NONE
    ns.conn.write(Message("", ON_NATIVE_MESSAGE, body, is_native=True, is_binary=msg.is_binary))
    return REPLY


# -- the peer's requests ----------------------------------------------------------


async def _answer_request(conn: Conn, msg: Message) -> Outcome:
    if not msg.wait or msg.is_noop:
        return NONE  # neffos ignores requests that cannot be answered
    event = msg.event
    if event == ON_NAMESPACE_CONNECT:
        return await _answer_connect(conn, msg)
    ns = conn.namespaces.get(msg.namespace)
    if event == ON_NAMESPACE_DISCONNECT:
        if ns is None:
            conn.writer.reply_empty(msg.wait)
            return EMPTY
        return await _answer_disconnect(ns, msg)
    if ns is None:
        conn.writer.reply_error(msg, BAD_NAMESPACE)
        return UNKNOWN
    if event == ON_ROOM_JOIN:
        return await _answer_join(ns, msg)
    return await _answer_leave(ns, msg)


async def _answer_connect(conn: Conn, msg: Message) -> Outcome:
    """Answer the peer's connect: our ``_OnNamespaceConnect`` may refuse, then the empty reply
    goes out before ``_OnNamespaceConnected`` fires, so what that handler sends comes after."""
    writer = conn.writer
    if msg.namespace in conn.namespaces:
        writer.reply_empty(msg.wait)
        return EMPTY
    table = conn.tables.get(msg.namespace)
    if table is None:
        writer.reply_error(msg, BAD_NAMESPACE)
        return UNKNOWN
    ns = NSConn(conn, table.name, table)
    try:
        await ns.fire(ON_NAMESPACE_CONNECT, msg)
    except Exception as exc:
        failed = handler_failed(exc, conn.id, ns.namespace, ON_NAMESPACE_CONNECT)
        writer.reply_error(msg, error_text(exc))
        await ns.run_cleanups()
        return failed
    except BaseException:
        # Cancelled (the connection ended): the hook's cleanups still run. This, and
        # `NSConn.open` for our own connects, is the one place a refused connect runs what
        # its hooks deferred; controllers and joined handlers rely on it.
        await ns.run_cleanups()
        raise
    conn.register(ns)
    writer.reply_empty(msg.wait)
    await ns.fire_quietly(ON_NAMESPACE_CONNECTED, msg.evolve(event=ON_NAMESPACE_CONNECTED, wait=""))
    return EMPTY


async def _answer_disconnect(ns: NSConn, msg: Message) -> Outcome:
    """Answer the peer's disconnect request; only a server-side handler may refuse it."""
    conn = ns.conn
    if not conn.is_client:
        try:
            await ns.fire(ON_NAMESPACE_DISCONNECT, msg)
        except Exception as exc:
            failed = handler_failed(exc, conn.id, ns.namespace, ON_NAMESPACE_DISCONNECT)
            conn.writer.reply_error(msg, error_text(exc))
            return failed
    await ns.leave_rooms_locally(is_local=False, forced=True)
    conn.unregister(ns)
    conn.writer.reply_empty(msg.wait)
    if conn.is_client:
        await ns.fire_quietly(ON_NAMESPACE_DISCONNECT, msg)
    await ns.run_cleanups()
    return EMPTY


async def _answer_join(ns: NSConn, msg: Message) -> Outcome:
    """Answer the peer's join request: refused past `Options.max_name_length` and
    `Options.max_rooms_per_connection`, then our ``_OnRoomJoin`` may refuse it."""
    conn = ns.conn
    writer = conn.writer
    if msg.room in ns.rooms:
        writer.reply_empty(msg.wait)
        return EMPTY
    options = conn.options
    if utf8_length(msg.room) > options.max_name_length:
        writer.reply_error(msg, NAME_TOO_LONG)
        return LIMITED
    joined = sum(len(other.rooms) for other in conn.namespaces.values())
    if joined >= options.max_rooms_per_connection:
        writer.reply_error(msg, TOO_MANY_ROOMS)
        return LIMITED
    try:
        await ns.fire(ON_ROOM_JOIN, msg)
    except Exception as exc:
        failed = handler_failed(exc, conn.id, ns.namespace, ON_ROOM_JOIN, msg.room)
        writer.reply_error(msg, error_text(exc))
        return failed
    ns.add_room(msg.room)
    writer.reply_empty(msg.wait)
    await ns.fire_quietly(ON_ROOM_JOINED, msg.evolve(event=ON_ROOM_JOINED, wait=""))
    return EMPTY


async def _answer_leave(ns: NSConn, msg: Message) -> Outcome:
    """Answer the peer's leave request; a server-side ``_OnRoomLeave`` may refuse it."""
    conn = ns.conn
    writer = conn.writer
    if msg.room not in ns.rooms:
        writer.reply_empty(msg.wait)
        return EMPTY
    try:
        await ns.fire(ON_ROOM_LEAVE, msg)
    except Exception as exc:
        failed = handler_failed(exc, conn.id, ns.namespace, ON_ROOM_LEAVE, msg.room)
        if not conn.is_client:
            writer.reply_error(msg, error_text(exc))
            return failed
        logger.debug("%r: _OnRoomLeave raised on a server request; leaving anyway", ns)
    ns.remove_room(msg.room)
    writer.reply_empty(msg.wait)
    await ns.fire_quietly(ON_ROOM_LEFT, msg.evolve(event=ON_ROOM_LEFT, wait=""))
    return EMPTY
