"""The neffos handshake, both sides, over the transport seam (docs/protocol.md#handshake).

The client sends ``M``; the server answers ``A<id>`` (accepted) or ``H<text>`` (refused,
then a close frame). Before the ack the server reads the socket itself: frames that come
before ``M`` are kept, bounded, and handled after the ack (docs/protocol.md#handshake-input).
A server in native-only mode does no handshake (docs/protocol.md#native-only).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .errors import REFUSALS, ConnectionRefusedByPeerError, HandshakeError, error_text
from .logs import fields
from .ns_conn import NSConn
from .protocol import ACK_OK, ACK_REFUSED, ACK_REQUEST, HANDSHAKE_TIMEOUT, NO_HANDSHAKE, CloseCode, Frame
from .tables import NamespaceTable
from .transport import FrameSink, Socket

if TYPE_CHECKING:
    from .conn import Conn

logger = logging.getLogger("aioneffos.server")

MAX_PRE_ACK_FRAMES = 16
"""Frames a client may send before ``M``; they are handled after the ack
(docs/protocol.md#handshake-input)."""
MAX_PRE_ACK_BYTES = 64 * 1024
"""Bytes those frames may hold in all: a peer not yet acknowledged pins little memory."""


async def run_callback(callback: Callable[..., Any], *args: Any) -> Any:
    """Call *callback* (sync, or giving an awaitable) with *args*; give its result."""
    result = callback(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


# -- the server side --------------------------------------------------------------


async def accept(conn: Conn, socket: Socket, on_connect: Callable[..., Any] | None, timeout: float) -> bool:
    """Wait for ``M``, run *on_connect*, then send ``A<id>`` or ``H<text>``; tell whether *conn*
    was accepted (a refused or silent peer is closed with 1008)."""
    early: list[str | bytes] = []
    try:
        async with asyncio.timeout(timeout):
            refusal = await await_ack_request(socket, early)
    except TimeoutError:
        refusal = HANDSHAKE_TIMEOUT
    if refusal is not None:
        early.clear()  # nothing of an unacknowledged peer is kept while it is closed
        if refusal:
            await conn.close(CloseCode.POLICY_VIOLATION, refusal)
        return False
    if early:
        # Handled after the ack, before anything newer, by whichever task reads first.
        conn.inbound.read_first(early)
    if not await run_on_connect(conn, on_connect):
        return False
    conn.send_ack()
    return True


async def await_ack_request(socket: Socket, early: list[str | bytes]) -> str | None:
    """Read until ``M``, keeping what comes before it in *early*; give ``None`` on ``M``,
    else the reason to close with (``""`` when the socket ended)."""
    held = 0
    while True:
        data = await socket.receive()
        if data == ACK_REQUEST:  # a text frame: b"M" is a binary one
            return None
        if data is None:
            return ""
        early.append(data)
        held += len(data)
        if len(early) > MAX_PRE_ACK_FRAMES or held > MAX_PRE_ACK_BYTES:
            return NO_HANDSHAKE


async def accept_native(conn: Conn, table: NamespaceTable, on_connect: Callable[..., Any] | None) -> bool:
    """Native-only mode: no handshake; namespace ``""`` is connected from the start."""
    conn.mark_acknowledged()
    conn.register(NSConn(conn, "", table))
    return await run_on_connect(conn, on_connect)


async def run_on_connect(conn: Conn, on_connect: Callable[..., Any] | None) -> bool:
    """Run *on_connect*; a raise refuses *conn* (``H<text>`` before the ack, then 1008)."""
    if on_connect is None:
        return True
    try:
        await run_callback(on_connect, conn)
    except Exception as exc:
        text = error_text(exc) or "connection refused"
        if isinstance(exc, REFUSALS):
            logger.info("refused %r: %s", conn, text, extra=fields(conn.id))
        else:
            logger.error("on_connect raised for %r: %s", conn, text, exc_info=exc, extra=fields(conn.id))
        if not conn.is_acknowledged:
            conn.send_frame(Frame(f"{ACK_REFUSED}{text}".encode(), True))
        # After the ack a refusal can only close the connection (docs/protocol.md#on-connect).
        await conn.close(CloseCode.POLICY_VIOLATION, text)
        return False
    return True


# -- the client side --------------------------------------------------------------


async def request_ack(socket: Socket, sink: FrameSink, timeout: float) -> str:
    """Send ``M`` and give the id of the server's ``A<id>``.

    Raise `ConnectionRefusedByPeerError` with the text of ``H<text>``, or `HandshakeError`
    when the socket ends first or no answer comes within *timeout* (then the socket is
    closed with 1008). Anything else before the answer is ignored (neffos servers send
    nothing before it).
    """
    try:
        await sink.write(Frame(ACK_REQUEST.encode(), True))
        async with asyncio.timeout(timeout):
            while True:
                data = await socket.receive()
                if data is None:
                    raise HandshakeError(f"connection closed during the handshake ({socket.close_code})")
                if type(data) is not str:
                    continue
                if data.startswith(ACK_OK):
                    return data[len(ACK_OK) :]
                if data.startswith(ACK_REFUSED):
                    raise ConnectionRefusedByPeerError(data[len(ACK_REFUSED) :] or "connection refused")
    except TimeoutError:
        await socket.close(code=CloseCode.POLICY_VIOLATION, message=b"handshake timeout")
        raise HandshakeError("no handshake answer from the server") from None
    except BaseException:
        await socket.close()
        raise
