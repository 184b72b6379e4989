"""Ending a server's connections: the bounded shutdown of `Server.close`, and the watch that
cancels handlers whose peer vanished (`Options.cancel_handlers_on_close`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING

from .protocol import SERVER_SHUTDOWN, CloseCode

if TYPE_CHECKING:
    from .conn import Conn

logger = logging.getLogger("aioneffos.server")

HANDLER_WATCH_INTERVAL = 1.0
"""Seconds between looks for handlers whose peer vanished (`Options.cancel_handlers_on_close`)."""


async def close_all(conns: Collection[Conn], emptied: asyncio.Event, seconds: float) -> None:
    """Close every connection of *conns* (a live view) with 1001 ``server shutdown`` and wait
    until *emptied* tells that each has torn down, within about twice *seconds*.

    Each close ends its socket within *seconds*; the teardowns follow in the tasks serving
    the connections, unless a handler still runs: those are cancelled, and get the same time.
    """
    closing = [asyncio.ensure_future(c.close(CloseCode.GOING_AWAY, SERVER_SHUTDOWN)) for c in list(conns)]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await emptied.wait()
    left = list(conns)
    if left:
        for conn in left:
            conn.cancel_handler()
        try:
            async with asyncio.timeout(seconds):
                await emptied.wait()
        except TimeoutError:
            logger.warning(
                "server close: %d connection(s) still tearing down after %gs: %s",
                len(conns),
                2 * seconds,
                list(conns)[:10],
            )
    await asyncio.gather(*closing, return_exceptions=True)


async def watch_handlers(conns: Collection[Conn]) -> None:
    """Cancel the handlers of connections whose peer is gone, for ever (cancel the task to stop).

    A connection runs its handler in the task that reads it, so nothing reads while the
    handler runs; this look, once a second over the connections, notices a socket that ended.
    """
    while True:
        await asyncio.sleep(HANDLER_WATCH_INTERVAL)
        for conn in list(conns):
            if conn.socket_lost:
                conn.cancel_handler()
