"""Local delivery: writing a broadcast to this process's recipients, and asking them.

A broadcast is encoded once, and the same `Frame` goes to every recipient's outbox (a
server frames it once too: `Frame.wire`); no task is made per recipient. A server ask
sends one token to every recipient and waits for the first reply (docs/protocol.md#server-asks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .asks import PendingReply
from .errors import resolve_remote_error
from .exchange import NO_EXCLUSION, Exclusion
from .message import Message
from .ns_conn import NSConn
from .protocol import Frame, encode, encode_fields, encode_native
from .room import Room

if TYPE_CHECKING:
    from .conn import Conn


def exclusion_of(exclude: Conn | NSConn | Room | str | None) -> Exclusion:
    """Turn what `Server.broadcast` accepts as *exclude* into an `Exclusion`."""
    if exclude is None:
        return NO_EXCLUSION
    if isinstance(exclude, str):
        return Exclusion(conn_id=exclude)
    if isinstance(exclude, Room):
        return Exclusion(conn_id=exclude.ns_conn.conn.id)
    conn = exclude.conn if isinstance(exclude, NSConn) else exclude
    return Exclusion(conn_key=conn.key)


def deliver(targets: Iterable[NSConn], msg: Message, exclusion: Exclusion, *, raw_native: bool) -> int:
    """Write *msg*, encoded once, to every one of *targets* not excluded; give how many took it.

    With *raw_native*, a native message goes as the raw frame (the peers are plain websockets,
    docs/protocol.md#native-only).
    """
    frame: Frame | None = None
    count = 0
    for ns_conn in targets:
        conn = ns_conn.conn
        if exclusion and exclusion.excludes(conn.key, conn.id):
            continue
        if frame is None:
            raw = msg.is_native and raw_native
            frame = encode_native(msg.body, binary=msg.is_binary) if raw else encode(msg)
        if conn.writer.send(frame):
            count += 1
    return count


async def ask_each(targets: Sequence[NSConn], token: str, msg: Message, timeout: float) -> Message:
    """Ask every one of *targets* *msg* with *token*; give the first reply (later ones are dropped).

    Raise `AskTimeoutError` after *timeout*, `WriteClosedError` when every target ended
    first, or the typed error of an error reply.
    """
    frame = encode_fields(token, msg.namespace, msg.room, msg.event, msg.body, binary=msg.is_binary)
    pending = PendingReply(asyncio.get_running_loop().create_future(), remaining=len(targets))
    for ns_conn in targets:
        conn = ns_conn.conn
        conn.asks.expect(token, pending)
        if not conn.send_frame(frame, urgent=True):
            pending.connection_lost()
    peer = repr(targets[0].conn.id) if len(targets) == 1 else f"any of {len(targets)} connections"
    try:
        reply = await pending.wait(timeout, msg.event, peer)
    finally:
        for ns_conn in targets:
            ns_conn.conn.asks.forget(token)
    if reply.err is not None:
        raise resolve_remote_error(reply.err)
    return reply
