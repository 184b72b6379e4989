"""The ask table of one connection: tokens, waiting asks, late replies.

An ask sends a frame carrying a fresh wait token and waits for the frame that carries it
back (docs/protocol.md#wait-tokens). The inbound loop matches replies against the table
before any handler runs (docs/protocol.md#handler-order), and drops a frame that carries a
token this side made but that nothing waits for any more: a late reply to an ask that gave
up (docs/protocol.md#late-replies). When the connection ends, every waiting ask fails. A
server ask to many connections shares one `PendingReply` across their tables: the first
reply wins.

Nothing here knows a connection: the table is told who it belongs to through `Reader`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from .errors import AskTimeoutError, WriteClosedError
from .message import Message
from .protocol import Tokens


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

    async def wait(self, seconds: float, event: str, peer: str) -> Message:
        """Wait for the reply; raise `AskTimeoutError` naming *event* and *peer* after *seconds*."""
        try:
            async with asyncio.timeout(seconds):
                return await self.future
        except TimeoutError:
            raise AskTimeoutError(f"no reply to {event!r} from {peer} within {seconds:g}s") from None


class Reader(Protocol):
    """What an ask table needs of its connection: a reader for the replies."""

    def keep_reading(self) -> None:
        """Make sure a task reads the socket, even while a handler awaits (the reply may be next)."""
        ...


class AskTable:
    """The asks of one connection that wait for the peer's reply, by wait token."""

    __slots__ = ("_reader", "tokens", "waiters")

    def __init__(self, tokens: Tokens, reader: Reader) -> None:
        self.tokens = tokens
        """Makes this side's tokens (shared by every connection of a server) and recognises them."""
        self.waiters: dict[str, PendingReply] = {}
        """The waiting asks by token; the inbound loop pops a waiter when its reply comes."""
        self._reader = reader

    def __len__(self) -> int:
        return len(self.waiters)

    def open(self) -> tuple[str, PendingReply]:
        """Make a fresh token and the `PendingReply` its reply resolves (see `expect`)."""
        token = self.tokens.next()
        pending = PendingReply(asyncio.get_running_loop().create_future())
        self.expect(token, pending)
        return token, pending

    def expect(self, token: str, pending: PendingReply) -> None:
        """Have the reply carrying *token* resolve *pending* (a server ask shares one across tables)."""
        self.waiters[token] = pending
        self._reader.keep_reading()

    def forget(self, token: str) -> None:
        """Stop waiting for *token* (its ask is done, or gave up)."""
        self.waiters.pop(token, None)

    def is_late(self, token: str) -> bool:
        """Tell whether *token* is ours though nothing waits for it: a late reply, to drop."""
        return token[0] in self.tokens.first_chars and self.tokens.issued(token)

    def give_up(self, error: Exception) -> None:
        """Fail every waiting ask with *error* (each waiter of a shared ask counts once)."""
        waiting = list(self.waiters.values())
        self.waiters.clear()
        for pending in waiting:
            pending.fail(error)

    def lose_all(self, error: WriteClosedError | None = None) -> None:
        """The connection ended: fail every waiting ask (`WriteClosedError`, or *error*)."""
        waiting = list(self.waiters.values())
        self.waiters.clear()
        for pending in waiting:
            pending.connection_lost(error)
