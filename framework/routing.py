"""Routing one incoming message: system requests, native messages, events, protocol errors.

Every failure becomes an answer to the peer, never a crash of its connection: a namespace
not connected is `bad namespace`, a room not joined `bad room`, a local-only system event
sent from the wire `invalid payload` (docs/protocol.md#not-connected,
docs/protocol.md#wire-system-events).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from . import events as ev
from .errors import BAD_NAMESPACE, BAD_ROOM, INVALID_PAYLOAD, error_text
from .logs import handler_failed
from .message import Message
from .ns_conn import NSConn

if TYPE_CHECKING:
    from .conn import Conn

logger = logging.getLogger("aioneffos.handlers")


def route(conn: Conn, msg: Message) -> Awaitable[None] | None:
    """Route *msg*, which arrived on *conn*: give the work to await (a handler, a request),
    or ``None`` when it was answered (or dropped) at once.

    A plain function, not a coroutine: one coroutine less on every message's path.
    """
    event = msg.event
    if event in ev.WIRE_REQUESTS:
        return _answer_request(conn, msg)
    if msg.is_native:
        ns = conn.namespace("")
        return ns.run_native_handler(msg) if ns is not None else None
    if event == ev.ON_ROOM_LEFT and msg.wait.startswith("$") and not conn.is_client:
        # neffos.js leaveAll() asks with _OnRoomLeft: answer it as a leave (docs/protocol.md#leave-all).
        return _answer_request(conn, msg.evolve(event=ev.ON_ROOM_LEAVE))
    ns = conn.namespace(msg.namespace)
    if ns is None:
        if msg.wait:
            conn.reply_error(msg, BAD_NAMESPACE)
        return None
    if event in ev.LOCAL_ONLY_EVENTS:
        logger.debug("%r: dropped system event %r from the wire", conn, event)
        if msg.wait:
            conn.reply_error(msg, INVALID_PAYLOAD)
        return None
    if msg.room and msg.room not in ns.rooms:
        if msg.wait:
            conn.reply_error(msg, BAD_ROOM)
        return None
    return ns.run_handler(msg)


async def _answer_request(conn: Conn, msg: Message) -> None:
    if not msg.wait or msg.is_noop:
        return  # neffos ignores requests that cannot be answered
    event = msg.event
    if event == ev.ON_NAMESPACE_CONNECT:
        await _answer_connect(conn, msg)
        return
    ns = conn.namespace(msg.namespace)
    if event == ev.ON_NAMESPACE_DISCONNECT:
        if ns is None:
            conn.reply_empty(msg.wait)
        else:
            await ns.reply_disconnect(msg)
    elif ns is None:
        conn.reply_error(msg, BAD_NAMESPACE)
    elif event == ev.ON_ROOM_JOIN:
        await ns.reply_room_join(msg)
    else:
        await ns.reply_room_leave(msg)


async def _answer_connect(conn: Conn, msg: Message) -> None:
    """Answer the peer's connect: our ``_OnNamespaceConnect`` may refuse, then the empty reply
    goes out before ``_OnNamespaceConnected`` fires, so what that handler sends comes after."""
    if conn.namespace(msg.namespace) is not None:
        conn.reply_empty(msg.wait)
        return
    table = conn.table(msg.namespace)
    if table is None:
        conn.reply_error(msg, BAD_NAMESPACE)
        return
    ns = NSConn(conn, table.name, table)
    try:
        await ns.fire(ev.ON_NAMESPACE_CONNECT, msg)
    except Exception as exc:
        handler_failed(exc, conn.id, ns.namespace, ev.ON_NAMESPACE_CONNECT)
        conn.reply_error(msg, error_text(exc))
        await ns.run_cleanups()
        return
    except BaseException:
        # Cancelled (the connection ended): the hook's cleanups still run. This, and
        # `Conn.open_namespace` for our own connects, is the one place a refused connect
        # runs what its hooks deferred; controllers and joined handlers rely on it.
        await ns.run_cleanups()
        raise
    conn.register(ns)
    conn.reply_empty(msg.wait)
    await ns.fire_quietly(ev.ON_NAMESPACE_CONNECTED, msg.evolve(event=ev.ON_NAMESPACE_CONNECTED, wait=""))
