"""`PendingReply`: an ask waiting for its reply (one connection, or many for a server ask)."""

from __future__ import annotations

import asyncio

from .errors import WriteClosedError
from .message import Message


class PendingReply:
    """One awaited reply; a server ask to many connections shares one, and the first reply wins."""

    __slots__ = ("future", "remaining")

    def __init__(self, future: asyncio.Future[Message], remaining: int = 1) -> None:
        self.future = future
        self.remaining = remaining

    def resolve(self, msg: Message) -> None:
        """Complete the ask with *msg*, unless another reply already did."""
        if not self.future.done():
            self.future.set_result(msg)

    def connection_lost(self, error: WriteClosedError | None = None) -> None:
        """One asked connection ended; once every one has, the ask fails with *error*
        (by default `WriteClosedError`)."""
        self.fail(error or WriteClosedError("connection closed before replying"))

    def fail(self, error: Exception) -> None:
        """One asked connection cannot reply; once none can, the ask fails with *error*."""
        self.remaining -= 1
        if self.remaining <= 0 and not self.future.done():
            self.future.set_exception(error)
