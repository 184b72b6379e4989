"""`BusSession`: keeps one node's broker link up, and says how healthy it is.

The session reconnects with capped exponential backoff, subscribes again to every wanted
channel, publishes through its `OutgoingQueue` (bounded, batched, in order), checks the
link every tick, and reports health: down while disconnected, up again once resubscribed,
degraded while its queue backs up or drops, each transition logged once. Publishing is
at-most-once: what is queued while the link is down is dropped and counted
(docs/protocol.md#bus-delivery).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from ..exchange import ExchangeHealth
from .link import HealthListener, Link, cancel_and_wait, logger
from .outgoing import OutgoingQueue


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
        self._queue = OutgoingQueue(
            broker=broker,
            healthy=lambda: self._healthy,
            max_pending=max_pending,
            max_batch=max_batch,
            overflow=overflow,
            wait_timeout=wait_timeout,
            max_payload=max_payload,
            stamp=stamp,
        )
        self.send = self._queue.send
        """Queue a message for the broker (`OutgoingQueue.send`)."""
        self.check_size = self._queue.check_size
        """Raise `PayloadTooLargeError` for a message over the broker's limit (`OutgoingQueue.check_size`)."""
        self._make_link = make_link
        self._on_envelope = on_envelope
        self._on_up = on_up
        """Called each time the link is up and subscribed (before health listeners)."""
        self._on_tick = on_tick
        """Called every *tick* seconds while the link is up."""
        self.name = "bus session"
        """Who this session is, in logs (set by `start`)."""
        self._broker = broker
        self.reconnect_delay = reconnect_delay
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self.tick = tick
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
        return ExchangeHealth.DEGRADED if self._queue.is_degraded() else ExchangeHealth.UP

    @property
    def is_up(self) -> bool:
        """Tell whether a link is open (messages are queued rather than dropped)."""
        return self._link is not None

    @property
    def dropped(self) -> int:
        """Count the messages not sent to the broker: the link was down, the queue full, or
        their publish failed."""
        return self._queue.dropped

    @property
    def published(self) -> int:
        """Count the messages handed to the broker (urgent ones not included)."""
        return self._queue.published

    @property
    def queued(self) -> int:
        """Count the messages waiting for the broker."""
        return self._queue.queued

    @property
    def refused(self) -> int:
        """Count the messages refused for being over the broker's size limit."""
        return self._queue.refused

    @property
    def congested(self) -> bool:
        """Tell whether publishers should wait for `room` (backpressure, queue half full or more)."""
        return self._queue.congested

    @property
    def max_payload(self) -> int | None:
        """Give the largest message `send` takes: the configured limit, or the link's if lower."""
        return self._queue.max_payload

    @property
    def configured_max_payload(self) -> int | None:
        """Give the largest message this node is configured to publish (``None``: the broker's limit)."""
        return self._queue.configured_max_payload

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

    # -- sending --------------------------------------------------------------------

    async def room(self, timeout: float | None = None) -> bool:
        """Wait until the queue is less than half full (see `OutgoingQueue.room`)."""
        return await self._queue.room(timeout)

    async def flushed(self, timeout: float | None = None) -> bool:
        """Wait until nothing is queued (every message handed to the broker, or dropped); False
        if not within *timeout*."""
        return await self._queue.flushed(timeout)

    # -- lifecycle ----------------------------------------------------------------

    async def start(self, name: str) -> bool:
        """Start keeping the link up as *name* (in logs); tell whether it came up within
        *connect_timeout*."""
        self.name = self._queue.name = name
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
        if self._link is not None and not await self._queue.sent(flush_timeout):
            logger.debug("%s: %d messages unsent at stop", self.name, self.queued)
        self._stopping.set()
        if self._supervisor is not None:
            if self._link is None:
                self._supervisor.cancel()  # it may be in the middle of a connect attempt
            await asyncio.gather(self._supervisor, return_exceptions=True)
        self._healthy = False
        self._queue.drop()

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
        self._queue.drop()

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
        self._queue.attach(link)
        self._synced_gen = max(self._synced_gen, gen)
        self._changed.set()
        self._on_up()
        await self._set_healthy(True, "")
        loop = asyncio.get_running_loop()
        workers = [
            loop.create_task(link.lost()),
            loop.create_task(self._queue.run(link)),
            loop.create_task(self._subscribe_loop(link)),
            loop.create_task(self._tick_loop(link)),
            loop.create_task(self._stopping.wait()),
        ]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(workers)
            self._link = None
            self._queue.detach()
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
        self._queue.health_changed()
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
            self._queue.flush_warnings()
            self._queue.check_degraded()
            # Keepalive: a link that cannot answer a ping in time is broken (half-open TCP).
            async with asyncio.timeout(self.tick + self.connect_timeout):
                await link.sync()
