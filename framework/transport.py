"""The transport seam: what a connection reads from (`Socket`) and writes to (`FrameSink`).

The session core (`Conn`, its inbound loop and outbox, the server's handshake) never sees a
websocket library. An adapter translates one: `websocket` for aiohttp's server side,
`client` for aiohttp's client side, `memory` for a pair of in-process sockets. A new
transport implements these two protocols, and frames data as it must (a server's
frames are unmasked, a client's masked; `Frame.wire` caches the bytes an adapter makes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .errors import error_text
from .logs import fields
from .protocol import Frame

logger = logging.getLogger("aioneffos.conn")


class Socket(Protocol):
    """The reading and closing half of one websocket, as the session sees it."""

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        """Give the next data frame, ``str`` for text and ``bytes`` for binary, or ``None`` once
        the socket has ended (closed by either side, or broken; control frames never show).

        Raise `TimeoutError` when nothing came within *timeout* seconds.
        """
        ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool:
        """Send a close frame with *code* and *message* and wait for the peer's; tell whether
        this call closed it (``False`` when it was closed already)."""
        ...

    @property
    def close_code(self) -> int | None:
        """Give the close code once the socket has closed (ours or the peer's), else ``None``."""
        ...


class DirectSocket(Socket, Protocol):
    """A `Socket` whose library's own receive the inbound loop may await itself, with no
    coroutine of the adapter's in between (one less per message and per idle connection).

    ``receive_message`` gives the library's awaitable of a message with ``type`` and
    ``data``; a message whose ``type`` is one of `data_kinds` carries a data frame in
    ``data`` (``str`` or ``bytes``), any other ends the socket, and is handed to `end_of`.
    `receive` must still give the same (for every other caller). The inbound loop knows one
    by its ``data_kinds``.
    """

    data_kinds: tuple[Any, ...]

    def receive_message(self, timeout: float | None = None) -> Awaitable[Any]: ...

    def end_of(self, msg: Any) -> None:
        """Learn from *msg* (not a data frame) why the socket ended."""
        ...


class FrameSink(Protocol):
    """The writing half: where a connection's outbox writes encoded frames."""

    def write_now(self, frame: Frame) -> bool:
        """Write *frame* at once if the socket can take it without waiting; else return False."""
        ...

    async def write(self, frame: Frame) -> None:
        """Write *frame*, waiting for the socket to drain; raise `ConnectionError` once closed."""
        ...

    def abort(self) -> None:
        """Cut the connection now, dropping what was not sent (a peer that stopped reading)."""
        ...

    @property
    def lost(self) -> bool:
        """Tell whether the connection is gone or going (closed by either side, or cut)."""
        ...


async def close_or_cut(
    socket: Socket,
    sink: FrameSink,
    drain: Callable[[], Awaitable[None]] | None,
    code: int,
    reason: str,
    seconds: float,
    owner: object,
    conn_id: str,
) -> None:
    """Close *socket* with *code* and *reason* after *drain* (the outbox's, if given); when
    that is not done within *seconds* (a peer that does not read), cut the connection instead."""
    try:
        async with asyncio.timeout(seconds):
            if drain is not None:
                await drain()
            await socket.close(code=code, message=reason.encode()[:123])
    except (TimeoutError, ConnectionError) as exc:
        # Waiting for a peer that does not read would hold the connection (its fd, its
        # rooms, its count) for as long as the peer keeps TCP open: cut it now.
        logger.info(
            "%r: close not done within %gs (%s): cutting the socket",
            owner,
            seconds,
            error_text(exc),
            extra=fields(conn_id),
        )
        sink.abort()
