"""`OutgoingQueue`: the bounded queue of one node's messages for the broker, and its publish loop.

Urgent messages (presence, answers) go first and are never dropped for room; the others
wait in order, at most *max_pending* of them (docs/protocol.md#bus-delivery). A message
over the broker's size limit is refused before it is queued (`PayloadTooLargeError`), so
it never reaches, or resets, the link. While no link is open, or the queue is full, a
message is dropped and counted; a queue that backs up or drops makes the node degraded.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from ..errors import PayloadTooLargeError
from .link import Link, OnCount, Outgoing, RateLimitedWarning, logger

OVERFLOW_POLICIES = ("backpressure", "drop")
"""What a full queue does: publishers wait for room (backpressure), or the newest message is dropped."""
DEGRADED_HOLD = 10.0
"""Seconds a session stays degraded after its last dropped message."""


class OutgoingQueue:
    """The messages one node sends to the broker (see the module docstring).

    With ``overflow="backpressure"`` the queue is congested from half of *max_pending* on:
    `room` then waits (up to *wait_timeout*) until the publish loop has caught up, which is
    how publishers slow down; past *max_pending*, and with ``overflow="drop"``, the newest
    message is dropped and counted. *healthy* tells whether the link is up (only a healthy
    node is degraded); *stamp* numbers a message as it is handed to the link.
    """

    def __init__(
        self,
        *,
        broker: str,
        healthy: Callable[[], bool],
        max_pending: int,
        max_batch: int,
        overflow: str,
        wait_timeout: float,
        max_payload: int | None,
        stamp: Callable[[str, bytes], bytes] | None,
    ) -> None:
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {OVERFLOW_POLICIES}, got {overflow!r}")
        if max_pending < 2:
            raise ValueError(f"max_pending must be at least 2, got {max_pending!r}")
        self.name = "bus session"
        """Who sends, in logs (the session's name)."""
        self._broker = broker
        self._healthy = healthy
        self._stamp = stamp
        """Numbers a message as it is handed to the link (not when queued: a message dropped
        before it never leaves a gap that receivers would count too)."""
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.overflow = overflow
        self.wait_timeout = wait_timeout
        self.configured_max_payload = max_payload
        self._link_max_payload: int | None = None
        self._high_water = max_pending // 2
        self.open = False
        """Whether a link takes the messages (else they are dropped)."""
        self.dropped = 0
        """Messages not sent to the broker: the link was down, the queue full, or their publish failed."""
        self.published = 0
        """Messages handed to the broker (urgent ones not included)."""
        self._overflows = RateLimitedWarning(
            "%d message(s) for other nodes dropped by %s since the last such line: the bus queue is"
            " full (max_pending %d, overflow=%r)"
        )
        self._refusals = RateLimitedWarning(
            "%d message(s) refused since the last such line: %s over the %d-byte limit of broker %s"
            " (max_payload); not sent to anyone"
        )
        self._slow = RateLimitedWarning(
            "%d wait(s) for room on the bus timed out since the last such line (%s): the publishers went on"
        )
        self._last_overflow = -DEGRADED_HOLD
        self._degraded = False
        self._urgent: deque[Outgoing] = deque()
        self._outbox: deque[Outgoing] = deque()
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    # -- state --------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Count the messages waiting for the broker."""
        return len(self._outbox) + len(self._urgent)

    @property
    def refused(self) -> int:
        """Count the messages refused for being over the broker's size limit."""
        return self._refusals.total

    @property
    def congested(self) -> bool:
        """Tell whether publishers should wait for `room` (backpressure, queue half full or more)."""
        return not self._room.is_set()

    @property
    def max_payload(self) -> int | None:
        """Give the largest message `send` takes: the configured limit, or the link's if lower."""
        configured, link = self.configured_max_payload, self._link_max_payload
        if configured is None:
            return link
        return configured if link is None else min(configured, link)

    def is_degraded(self) -> bool:
        """Tell whether the queue backs up (half full or more) or dropped a message lately."""
        return len(self._outbox) >= self._high_water or time.monotonic() - self._last_overflow < DEGRADED_HOLD

    # -- sending -----------------------------------------------------------------------

    def check_size(self, data: bytes, what: str = "a message") -> None:
        """Raise `PayloadTooLargeError` when *data* is over the broker's limit (counted and logged)."""
        limit = self.max_payload
        if limit is not None and len(data) > limit:
            self._refusals.note(1, f"{what} of {len(data)} bytes", limit, self._broker)
            raise PayloadTooLargeError(
                f"{what} of {len(data)} bytes is over the {limit}-byte limit of broker {self._broker}"
                " (max_payload): sent to no one",
                size=len(data),
                limit=limit,
            )

    def send(
        self,
        channel: str,
        data: bytes,
        on_count: OnCount | None = None,
        *,
        urgent: bool = False,
        wanted: Callable[[], bool] | None = None,
    ) -> None:
        """Queue *data* for *channel*; *on_count* learns how many nodes received it.

        Raise `PayloadTooLargeError` (nothing queued) when *data* is over the broker's limit.
        An *urgent* message goes before the others and is never dropped for room. While
        no link is open a message is dropped, and counted unless *wanted* says no other
        node would have received it.
        """
        self.check_size(data)
        if not self.open:
            if not urgent and (wanted is None or wanted()):
                self.dropped += 1
            if on_count is not None:
                on_count(0)
            return
        if urgent:
            self._urgent.append((channel, data, on_count))
        else:
            outbox = self._outbox
            if len(outbox) >= self.max_pending:
                self._overflow()
                if on_count is not None:
                    on_count(0)
                return
            outbox.append((channel, data, on_count))
            if len(outbox) >= self._high_water:
                self._congest()
        self._empty.clear()
        self._ready.set()

    def _overflow(self) -> None:
        self.dropped += 1
        self._last_overflow = time.monotonic()
        self._overflows.note(1, self.name, self.max_pending, self.overflow)
        self.check_degraded()

    def _congest(self) -> None:
        if self.overflow == "backpressure" and self._room.is_set():
            self._room.clear()
        self.check_degraded()

    def check_degraded(self) -> None:
        """Log the transitions into and out of the degraded state, once each."""
        degraded = self._healthy() and self.is_degraded()
        if degraded == self._degraded:
            return
        self._degraded = degraded
        if degraded:
            logger.warning(
                "%s: bus to broker %s DEGRADED: %d message(s) queued (max_pending %d, overflow=%r)",
                self.name,
                self._broker,
                len(self._outbox),
                self.max_pending,
                self.overflow,
            )
        else:
            logger.info(
                "%s: bus to broker %s no longer degraded (%d dropped so far)",
                self.name,
                self._broker,
                self.dropped,
            )

    def health_changed(self) -> None:
        """The link went up or down: a degraded state is logged afresh from now on."""
        self._degraded = False

    def flush_warnings(self) -> None:
        """Log what the rate-limited warnings held back, where their interval has passed."""
        for warning in (self._overflows, self._refusals, self._slow):
            warning.flush()

    # -- waiting -----------------------------------------------------------------------

    async def room(self, timeout: float | None = None) -> bool:
        """Wait until the queue is less than half full (at once if it is, or the link is down).

        Give False after *timeout* (default *wait_timeout*) without room; that wait is
        counted and logged (rate-limited), and the caller goes on: what it publishes next
        is queued up to *max_pending*, then dropped and counted.
        """
        if self._room.is_set():
            return True
        seconds = self.wait_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(seconds):
                await self._room.wait()
        except TimeoutError:
            self._slow.note(1, self.name)
            return False
        return True

    async def flushed(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued (every message handed to the broker, or dropped); False
        if not within *timeout*."""
        try:
            async with asyncio.timeout(timeout):
                while self.queued:
                    await self._empty.wait()
        except TimeoutError:
            return False
        return True

    async def sent(self, timeout: float) -> bool:
        """Wait until the publish loop has handed everything to the link, the batch in flight
        included; False if not within *timeout*."""
        try:
            async with asyncio.timeout(timeout):
                await self._empty.wait()
        except TimeoutError:
            return False
        return True

    # -- the link's side ---------------------------------------------------------------

    def attach(self, link: Link) -> None:
        """A link is open: queue for it, within its size limit."""
        self._link_max_payload = link.max_payload
        self.open = True

    def detach(self) -> None:
        """The link is gone: drop (and count) what is queued, and queue nothing more."""
        self.open = False
        self.drop()

    async def run(self, link: Link) -> None:
        """Publish the queue on *link* in batches until cancelled or a publish fails."""
        urgent, outbox = self._urgent, self._outbox
        max_batch = self.max_batch
        while True:
            if not outbox and not urgent:
                self._empty.set()
                self._ready.clear()
                await self._ready.wait()
                # Let this turn of the event loop run to its end first: every handler that
                # runs in it queues its message, and they all go in one batch (one round).
                await asyncio.sleep(0)
                continue
            batch = [urgent.popleft() for _ in range(min(len(urgent), max_batch))]
            first_user = len(batch)
            taken = [outbox.popleft() for _ in range(min(len(outbox), max_batch - first_user))]
            stamp = self._stamp
            if stamp is not None:
                taken = [(channel, stamp(channel, data), on_count) for channel, data, on_count in taken]
            batch += taken
            self._make_room()
            try:
                await link.publish(batch)
            except BaseException:
                self.dropped += len(batch) - first_user
                for _, _, on_count in batch:
                    if on_count is not None:
                        on_count(0)
                raise
            self.published += len(batch) - first_user
            if self._degraded and len(outbox) < self._high_water:
                self.check_degraded()

    def _make_room(self) -> None:
        if not self._room.is_set() and len(self._outbox) < self._high_water:
            self._room.set()

    def drop(self) -> None:
        """Drop what is queued (counted, and told to those waiting for a receiver count)."""
        self.dropped += len(self._outbox)
        for queue in (self._urgent, self._outbox):
            while queue:
                _, _, on_count = queue.popleft()
                if on_count is not None:
                    on_count(0)
        self._room.set()
