"""`BusSession`: keeps one node's broker link up, with a bounded queue to the broker.

The session reconnects with capped exponential backoff, subscribes again to every wanted
channel, publishes in order through one bounded queue (batched), checks the link every
tick, and reports health: down while disconnected, up again once resubscribed, degraded
while its queue backs up or drops, each transition logged once. Publishing is
at-most-once: what is queued while the link is down is dropped and counted
(docs/protocol.md#bus-delivery). A message over the broker's size limit is refused
before it is queued (`PayloadTooLargeError`), so it never reaches, or resets, the link.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable

from ..errors import PayloadTooLargeError
from ..exchange import ExchangeHealth
from .link import HealthListener, Link, OnCount, Outgoing, RateLimitedWarning, cancel_and_wait, logger

OVERFLOW_POLICIES = ("backpressure", "drop")
"""What a full queue does: publishers wait for room (backpressure), or the newest message is dropped."""
DEGRADED_HOLD = 10.0
"""Seconds a session stays degraded after its last dropped message."""


class BusSession:
    """Keeps one `Link` up for a node and tells whether it is (see the module docstring).

    At most *max_pending* messages wait for the broker. With ``overflow="backpressure"``
    the queue is congested from half of it on: `room` then waits (up to *wait_timeout*)
    until the publish loop has caught up, which is how publishers slow down; past
    *max_pending*, and with ``overflow="drop"``, the newest message is dropped and counted.
    Urgent messages (presence, answers) jump the queue and are never dropped for room.
    """

    def __init__(
        self,
        make_link: Callable[[], Link],
        on_envelope: Callable[[bytes], None],
        *,
        on_up: Callable[[], None],
        on_tick: Callable[[], None],
        broker: str,
        reconnect_delay: float,
        reconnect_max: float,
        connect_timeout: float,
        tick: float,
        max_pending: int,
        max_batch: int,
        overflow: str = "backpressure",
        wait_timeout: float = 5.0,
        max_payload: int | None = None,
        stamp: Callable[[str, bytes], bytes] | None = None,
    ) -> None:
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {OVERFLOW_POLICIES}, got {overflow!r}")
        if max_pending < 2:
            raise ValueError(f"max_pending must be at least 2, got {max_pending!r}")
        self._make_link = make_link
        self._on_envelope = on_envelope
        self._on_up = on_up
        """Called each time the link is up and subscribed (before health listeners)."""
        self._on_tick = on_tick
        """Called every *tick* seconds while the link is up."""
        self._stamp = stamp
        """Numbers a message as it is handed to the link (not when queued: a message dropped
        before it never leaves a gap that receivers would count too)."""
        self.name = "bus session"
        """Who this session is, in logs (set by `start`)."""
        self._broker = broker
        self.reconnect_delay = reconnect_delay
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self.tick = tick
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.overflow = overflow
        self.wait_timeout = wait_timeout
        self.configured_max_payload = max_payload
        self._link_max_payload: int | None = None
        self._high_water = max_pending // 2
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
        self._wanted: set[str] = set()
        self._subscribed: set[str] = set()
        self._gen = 0
        self._synced_gen = -1
        self._changed = asyncio.Event()
        self._state = asyncio.Condition()
        self._link: Link | None = None
        self._healthy = False
        self._down_since = 0.0
        self._dropped_at_down = 0
        self._listeners: list[HealthListener] = []
        self._urgent: deque[Outgoing] = deque()
        self._outbox: deque[Outgoing] = deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- state --------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Tell whether the link is up and subscribed (degraded included)."""
        return self._healthy

    @property
    def health(self) -> ExchangeHealth:
        """Give the state of the link: up, degraded (queue backing up or dropping), or down."""
        if not self._healthy:
            return ExchangeHealth.DOWN
        return ExchangeHealth.DEGRADED if self._is_degraded() else ExchangeHealth.UP

    def _is_degraded(self) -> bool:
        return len(self._outbox) >= self._high_water or time.monotonic() - self._last_overflow < DEGRADED_HOLD

    @property
    def is_up(self) -> bool:
        """Tell whether a link is open (messages are queued rather than dropped)."""
        return self._link is not None

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

    def add_health_listener(self, listener: HealthListener) -> None:
        """Call *listener(healthy)* on every health transition (it must not block)."""
        self._listeners.append(listener)

    async def synced(self, timeout: float | None = None) -> bool:
        """Wait until every subscription wanted so far is in effect; False if not within *timeout*."""
        target = self._gen
        try:
            async with asyncio.timeout(timeout), self._state:
                await self._state.wait_for(lambda: self._healthy and self._synced_gen >= target)
        except TimeoutError:
            return False
        return True

    def want(self, channel: str) -> None:
        """Subscribe to *channel* (now if the link is up, else when it is)."""
        if channel not in self._wanted:
            self._wanted.add(channel)
            self._gen += 1
            self._changed.set()

    def unwant(self, channel: str) -> None:
        """Unsubscribe from *channel*."""
        if channel in self._wanted:
            self._wanted.discard(channel)
            self._gen += 1
            self._changed.set()

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
        the link is down a message is dropped, and counted unless *wanted* says no other
        node would have received it.
        """
        self.check_size(data)
        if self._link is None:
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
        self._outbox_empty.clear()
        self._outbox_ready.set()

    def _overflow(self) -> None:
        self.dropped += 1
        self._last_overflow = time.monotonic()
        self._overflows.note(1, self.name, self.max_pending, self.overflow)
        self._check_degraded()

    def _congest(self) -> None:
        if self.overflow == "backpressure" and self._room.is_set():
            self._room.clear()
        self._check_degraded()

    def _check_degraded(self) -> None:
        """Log the transitions into and out of the degraded state, once each."""
        degraded = self._healthy and self._is_degraded()
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
                    await self._outbox_empty.wait()
        except TimeoutError:
            return False
        return True

    def _make_room(self) -> None:
        if not self._room.is_set() and len(self._outbox) < self._high_water:
            self._room.set()

    # -- lifecycle ----------------------------------------------------------------

    async def start(self, name: str) -> bool:
        """Start keeping the link up as *name* (in logs); tell whether it came up within
        *connect_timeout*."""
        self.name = name
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())
        self._supervisor.add_done_callback(self._supervisor_ended)
        return await self.synced(self.connect_timeout)

    def _supervisor_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._stopping.is_set():
            logger.critical(
                "%s: the broker link keeper died; no more cross-node traffic",
                self.name,
                exc_info=task.exception(),
            )

    async def stop(self, flush_timeout: float = 1.0) -> None:
        """Publish what is queued (up to *flush_timeout*), then close the link."""
        if self._link is not None:
            try:
                async with asyncio.timeout(flush_timeout):
                    await self._outbox_empty.wait()
            except TimeoutError:
                logger.debug("%s: %d messages unsent at stop", self.name, self.queued)
        self._stopping.set()
        if self._supervisor is not None:
            if self._link is None:
                self._supervisor.cancel()  # it may be in the middle of a connect attempt
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._healthy = False
        self._drop_outbox()

    async def _supervise(self) -> None:
        delay = self.reconnect_delay
        while not self._stopping.is_set():
            link = self._make_link()
            wanted, gen = set(self._wanted), self._gen
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await link.open(wanted, self._on_envelope)
                    await link.sync()
            except BaseException as exc:
                await link.close()
                if not isinstance(exc, Exception):
                    raise  # cancelled (stop() while connecting)
                logger.debug("%s: cannot reach %s: %r", self.name, self._broker, exc)
                if await self._wait_stop(delay * random.uniform(0.8, 1.2)):
                    break
                delay = min(delay * 2, self.reconnect_max)
                continue
            delay = self.reconnect_delay
            try:
                reason = await self._serve(link, wanted, gen)
            except Exception as exc:  # a bug must not end the reconnect loop silently
                logger.exception("%s: broker link failed", self.name)
                reason = repr(exc)
            if not self._stopping.is_set():
                await self._set_healthy(False, reason)
        self._drop_outbox()

    async def _wait_stop(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            return False
        return True

    async def _serve(self, link: Link, wanted: set[str], gen: int) -> str:
        """Run the workers of one open link until it breaks or the session stops; say why it ended."""
        self._subscribed = wanted
        self._link = link
        self._link_max_payload = link.max_payload
        self._synced_gen = max(self._synced_gen, gen)
        self._changed.set()
        self._on_up()
        await self._set_healthy(True, "")
        loop = asyncio.get_running_loop()
        workers = [
            loop.create_task(link.lost()),
            loop.create_task(self._publish_loop(link)),
            loop.create_task(self._subscribe_loop(link)),
            loop.create_task(self._tick_loop(link)),
            loop.create_task(self._stopping.wait()),
        ]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(workers)
            self._link = None
            self._drop_outbox()
            await link.close()
        finished = done.pop()
        if finished.cancelled():
            return "cancelled"
        result = finished.exception() or finished.result()
        return repr(result) if isinstance(result, BaseException) else "stopped"

    async def _set_healthy(self, healthy: bool, reason: str) -> None:
        if healthy == self._healthy:
            return
        self._healthy = healthy
        self._degraded = False
        if not healthy:
            self._down_since, self._dropped_at_down = time.monotonic(), self.dropped
            logger.error(
                "%s: broker %s link LOST (%s); only local connections are reached until it is back",
                self.name,
                self._broker,
                reason,
            )
        elif self._down_since:
            logger.warning(
                "%s: broker %s link RESTORED after %.1fs (%d messages dropped meanwhile)",
                self.name,
                self._broker,
                time.monotonic() - self._down_since,
                self.dropped - self._dropped_at_down,
            )
        else:
            logger.info("%s: broker %s link up", self.name, self._broker)
        async with self._state:
            self._state.notify_all()
        for listener in list(self._listeners):
            try:
                listener(healthy)
            except Exception:
                logger.exception("health listener %r failed", listener)

    # -- workers of a link ----------------------------------------------------------

    async def _publish_loop(self, link: Link) -> None:
        urgent, outbox = self._urgent, self._outbox
        max_batch = self.max_batch
        while True:
            if not outbox and not urgent:
                self._outbox_empty.set()
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
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
                self._check_degraded()

    async def _subscribe_loop(self, link: Link) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            gen = self._gen
            add, remove = self._wanted - self._subscribed, self._subscribed - self._wanted
            if add:
                await link.subscribe(add)
                self._subscribed |= add
            if remove:
                await link.unsubscribe(remove)
                self._subscribed -= remove
            if add or remove or self._synced_gen < gen:
                await link.sync()
            async with self._state:
                self._synced_gen = max(self._synced_gen, gen)
                self._state.notify_all()

    async def _tick_loop(self, link: Link) -> None:
        while True:
            await asyncio.sleep(self.tick)
            self._on_tick()
            for warning in (self._overflows, self._refusals, self._slow):
                warning.flush()
            self._check_degraded()
            # Keepalive: a link that cannot answer a ping in time is broken (half-open TCP).
            async with asyncio.timeout(self.tick + self.connect_timeout):
                await link.sync()

    def _drop_outbox(self) -> None:
        self.dropped += len(self._outbox)
        for queue in (self._urgent, self._outbox):
            while queue:
                _, _, on_count = queue.popleft()
                if on_count is not None:
                    on_count(0)
        self._room.set()
