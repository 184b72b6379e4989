"""`Link`, what a broker client provides, and `BusSession`, which keeps one node's link up.

The session reconnects with capped exponential backoff, subscribes again to every wanted
channel, publishes in order through one queue (batched), checks the link every tick,
and reports health: false while disconnected, true again once resubscribed, logged once
per transition. Publishing is at-most-once: what is queued while the link is down is
dropped and counted (docs/protocol.md#bus-delivery).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import attrs

logger = logging.getLogger("aioneffos.exchange")

HealthListener = Callable[[bool], None]
OnCount = Callable[[int | None], None]
"""Told how many nodes received a message: a number, None when the broker does not say (yet),
0 when it was dropped. A link may tell again later (NATS reports "no responders" after the fact)."""
Outgoing = tuple[str, bytes, OnCount | None]
"""A message to publish: channel, envelope, and who wants its receiver count."""


async def cancel_and_wait(tasks: Collection[asyncio.Task[Any]], grace: float = 1.0) -> None:
    """Cancel *tasks* and wait until they end, cancelling again while some go on.

    A library call may swallow a cancellation (``asyncio.wait_for`` before Python 3.12
    returns a result that arrived together with the cancel), so one ``cancel()`` is not
    always enough to end a task that goes on to await something else.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: a worker's failure was already reported or is moot


def redacted_url(url: str) -> str:
    """Give *url* fit for logs: a password becomes ``***``, and so does a user name given
    without one (NATS takes a bare token there)."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username or ''}:***" if parts.password is not None else "***"
    return urlunsplit(parts._replace(netloc=f"{user}@{host}{port}"))


@attrs.frozen
class LinkSettings:
    """What a link factory is told about the link it makes (one per connect attempt)."""

    node: str
    """The node the link serves (broker clients name their connections after it)."""
    connect_timeout: float
    """Seconds a connect may take."""
    keepalive: float
    """Seconds between liveness checks of an open link."""


class Link(Protocol):
    """One connection to a broker as a `BusSession` drives it; a fresh one per (re)connect."""

    async def open(self, channels: Collection[str], on_envelope: Callable[[bytes], None]) -> None:
        """Connect, subscribe *channels*, and pass every message to *on_envelope*; raise if unreachable."""
        ...

    async def subscribe(self, channels: Collection[str]) -> None:
        """Subscribe to *channels*."""
        ...

    async def unsubscribe(self, channels: Collection[str]) -> None:
        """Unsubscribe from *channels*."""
        ...

    async def sync(self) -> None:
        """Return once every earlier subscribe and unsubscribe is in effect at the broker."""
        ...

    async def publish(self, batch: Sequence[Outgoing]) -> None:
        """Publish *batch* in order; tell each message's `OnCount` what the broker says about it."""
        ...

    async def lost(self) -> BaseException:
        """Wait until the connection breaks and give the reason."""
        ...

    async def close(self) -> None:
        """Close the connection; never raises."""
        ...


class BusSession:
    """Keeps one `Link` up for a node and tells whether it is (see the module docstring)."""

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
    ) -> None:
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
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.dropped = 0
        """Messages not sent to the broker because the link was down or the queue was full."""
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
        self._outbox: deque[Outgoing] = deque()
        self._outbox_ready = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- state --------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Tell whether the link is up and subscribed."""
        return self._healthy

    @property
    def is_up(self) -> bool:
        """Tell whether a link is open (messages are queued rather than dropped)."""
        return self._link is not None

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

    def send(self, channel: str, data: bytes, on_count: OnCount | None = None) -> None:
        """Queue *data* for *channel*; *on_count* learns how many nodes received it."""
        if self._link is None or len(self._outbox) >= self.max_pending:
            self.dropped += 1
            if on_count is not None:
                on_count(0)
            return
        self._outbox.append((channel, data, on_count))
        self._outbox_empty.clear()
        self._outbox_ready.set()

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
                logger.debug("%s: %d messages unsent at stop", self.name, len(self._outbox))
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
        outbox = self._outbox
        while True:
            if not outbox:
                self._outbox_empty.set()
                self._outbox_ready.clear()
                await self._outbox_ready.wait()
                continue
            batch = [outbox.popleft() for _ in range(min(len(outbox), self.max_batch))]
            try:
                await link.publish(batch)
            except BaseException:
                self.dropped += len(batch)
                for _, _, on_count in batch:
                    if on_count is not None:
                        on_count(0)
                raise

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
            # Keepalive: a link that cannot answer a ping in time is broken (half-open TCP).
            async with asyncio.timeout(self.tick + self.connect_timeout):
                await link.sync()

    def _drop_outbox(self) -> None:
        self.dropped += len(self._outbox)
        while self._outbox:
            _, _, on_count = self._outbox.popleft()
            if on_count is not None:
                on_count(0)
