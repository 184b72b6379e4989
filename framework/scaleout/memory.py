"""`MemoryBroker`: a pub/sub broker inside one process, so a cluster needs no Redis or NATS.

Several `Server` nodes of one process, each with ``broker.exchange()``, form a cluster
that runs the same `BusExchange` and link keeper as over Redis or NATS: tests of the
cluster logic (asks, counts, presence, echoes) and of the link keeper (reconnect,
resubscribe, health, dropped messages) run in-process, and faults are injected by
calling the broker (`stop`, `partition`, `fail_publishes`, `hold`, ``max_payload``).
It carries nothing between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .cluster import BusExchange
from .link import LinkSettings, Outgoing, cancel_and_wait


class MemoryBroker:
    """A pub/sub broker in this process; its `link` is a `LinkFactory` for `BusExchange`.

    *echo*: a link subscribed to a channel receives its own messages on it, as with Redis
    (``False``: NATS's "no echo"). *counts*: publishing tells how many links received each
    message, as Redis does (``False``: as NATS, only that nobody did). *max_payload* is the
    largest message it takes, as NATS's is: links tell it to their exchange, and a larger
    one that reaches the broker anyway fails its publish (and so the link).
    """

    def __init__(
        self, *, name: str = "memory", echo: bool = True, counts: bool = True, max_payload: int | None = None
    ) -> None:
        self.name = name
        self.echo = echo
        self.counts = counts
        self.max_payload = max_payload
        self._links: list[MemoryLink] = []
        self._up = True
        self._cut: set[str] = set()
        self._failures: list[BaseException] = []
        self._open = asyncio.Event()
        self._open.set()

    def __repr__(self) -> str:
        return f"<MemoryBroker {self.name!r} links={len(self._links)} up={self._up}>"

    # -- use ------------------------------------------------------------------------

    def link(self, settings: LinkSettings) -> MemoryLink:
        """Make an unopened link for the node *settings* names (a `LinkFactory`)."""
        return MemoryLink(self, settings.node)

    def exchange(self, **options: Any) -> BusExchange:
        """Make a `BusExchange` on this broker; *options* are those of `BusExchange`."""
        return BusExchange(self.link, self.name, **options)

    @property
    def links(self) -> Sequence[MemoryLink]:
        """Give the open links, in the order they opened."""
        return tuple(self._links)

    def subscribers(self, channel: str) -> int:
        """Count the open links subscribed to *channel*."""
        return sum(channel in link.channels for link in self._links)

    def publish(self, channel: str, data: bytes) -> int:
        """Publish raw *data* on *channel*, as a foreign client would; give how many links got it."""
        return self._route(None, channel, data)

    # -- faults ----------------------------------------------------------------------

    @property
    def up(self) -> bool:
        """Tell whether the broker accepts links."""
        return self._up

    def stop(self) -> None:
        """Go down: every open link breaks and new ones are refused until `start`."""
        self._up = False
        for link in list(self._links):
            link.broke(ConnectionError(f"broker {self.name} stopped"))

    def start(self) -> None:
        """Accept links again."""
        self._up = True

    def partition(self, node: str) -> None:
        """Cut *node* off: its links break and it cannot open new ones until `heal`."""
        self._cut.add(node)
        for link in list(self._links):
            if link.node == node:
                link.broke(ConnectionError(f"node {node} cut off from broker {self.name}"))

    def heal(self, node: str) -> None:
        """Let *node* open links again."""
        self._cut.discard(node)

    def fail_publishes(self, count: int = 1, error: BaseException | None = None) -> None:
        """Make the next *count* publish calls of any link raise *error* (a `ConnectionError`)."""
        self._failures += [error or ConnectionError("injected publish fault")] * count

    def hold(self) -> None:
        """Stall publishing (a slow broker): publish calls wait until `release`."""
        self._open.clear()

    def release(self) -> None:
        """Let stalled and later publish calls go on."""
        self._open.set()

    # -- what links call -------------------------------------------------------------

    def _attach(self, link: MemoryLink) -> None:
        if not self._up:
            raise ConnectionRefusedError(f"broker {self.name} is down")
        if link.node in self._cut:
            raise ConnectionRefusedError(f"node {link.node} is cut off from broker {self.name}")
        self._links.append(link)

    def _detach(self, link: MemoryLink) -> None:
        with contextlib.suppress(ValueError):
            self._links.remove(link)

    async def _admit(self, size: int) -> None:
        await self._open.wait()
        if self._failures:
            raise self._failures.pop(0)
        if self.max_payload is not None and size > self.max_payload:
            raise ValueError(f"a message of {size} bytes is over max_payload ({self.max_payload})")

    def _route(self, sender: MemoryLink | None, channel: str, data: bytes) -> int:
        receivers = [
            link
            for link in self._links
            if channel in link.channels and (self.echo or link is not sender) and not link.is_broken
        ]
        for link in receivers:
            link.inbox.put_nowait(data)
        return len(receivers)


class MemoryLink:
    """One node's link to a `MemoryBroker`: a subscription set and an inbox read in order."""

    def __init__(self, broker: MemoryBroker, node: str) -> None:
        self.broker = broker
        self.node = node
        self.name = f"aioneffos:{node}"
        self.channels: set[str] = set()
        """The channels this link subscribes to."""
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    def __repr__(self) -> str:
        return f"<MemoryLink {self.name} channels={len(self.channels)}>"

    @property
    def is_broken(self) -> bool:
        """Tell whether the link has broken or closed."""
        return self._lost.done()

    def broke(self, reason: BaseException) -> None:
        """Break the link (the broker went away); `lost` gives *reason*."""
        if not self._lost.done():
            self._lost.set_result(reason)
        self.broker._detach(self)

    def _check(self) -> None:
        if self._lost.done():
            raise ConnectionError(f"link {self.name} is broken: {self._lost.result()!r}")

    async def open(self, channels: Collection[str], on_envelope: Callable[[bytes], None]) -> None:
        """Join the broker, subscribe *channels* and start handing messages to *on_envelope*."""
        self.broker._attach(self)
        self.channels |= set(channels)
        self._reader = asyncio.get_running_loop().create_task(self._read(on_envelope))

    async def _read(self, on_envelope: Callable[[bytes], None]) -> None:
        while True:
            on_envelope(await self.inbox.get())

    async def subscribe(self, channels: Collection[str]) -> None:
        """Subscribe to *channels*."""
        self._check()
        self.channels |= set(channels)

    async def unsubscribe(self, channels: Collection[str]) -> None:
        """Unsubscribe from *channels*."""
        self._check()
        self.channels -= set(channels)

    async def sync(self) -> None:
        """Return at once: subscriptions take effect when made (after one turn of the loop)."""
        self._check()
        await asyncio.sleep(0)
        self._check()

    async def publish(self, batch: Sequence[Outgoing]) -> None:
        """Route every message of *batch* in order; tell each `OnCount` what the broker knows."""
        for channel, data, on_count in batch:
            await self.broker._admit(len(data))
            self._check()
            receivers = self.broker._route(self, channel, data)
            if on_count is not None:
                on_count(receivers if self.broker.counts or not receivers else None)

    @property
    def max_payload(self) -> int | None:
        """Give the broker's *max_payload*."""
        return self.broker.max_payload

    async def lost(self) -> BaseException:
        """Wait until the link breaks and give the reason."""
        return await asyncio.shield(self._lost)

    async def close(self) -> None:
        """Leave the broker; messages not yet handed over are dropped."""
        if self._reader is not None:
            await cancel_and_wait([self._reader])
        self.broke(ConnectionError("closed"))
