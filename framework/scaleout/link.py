"""`Link`, what a broker client provides, and what links and the link keeper share.

A `Link` is one connection to a broker, opened afresh by `session.BusSession` for every
(re)connect; `LinkSettings` tells a link factory about the link it makes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import attrs

logger = logging.getLogger("aioneffos.exchange")

WARN_INTERVAL = 10.0
"""Seconds between two warnings about the same kind of trouble (drops, long waits, refusals)."""

HealthListener = Callable[[bool], None]
OnCount = Callable[[int | None], None]
"""Told how many nodes received a message: a number, None when the broker does not say (yet),
0 when it was dropped. A link may tell again later (NATS reports "no responders" after the fact)."""
Outgoing = tuple[str, bytes, OnCount | None]
"""A message to publish: channel, envelope, and who wants its receiver count."""


class RateLimitedWarning:
    """Counts occurrences of one kind of trouble and logs at most one warning per *interval*.

    The first occurrence is logged at once; later ones are summed into the next line
    (`flush`, called every tick, logs what is left once the interval has passed).
    """

    def __init__(self, text: str, interval: float = WARN_INTERVAL) -> None:
        self.text = text
        """A %-format taking the count since the last line, then `note`'s *args*."""
        self.interval = interval
        self.total = 0
        self._logged_total = 0
        self._logged_at = -interval
        self._args: tuple[object, ...] = ()

    def note(self, count: int = 1, *args: object) -> None:
        """Count *count* more; log now if the last line is older than the interval."""
        self.total += count
        self._args = args
        self.flush()

    def flush(self) -> None:
        """Log what was counted since the last line, if any and if the interval has passed."""
        now = time.monotonic()
        fresh = self.total - self._logged_total
        if fresh and now - self._logged_at >= self.interval:
            logger.warning(self.text, fresh, *self._args)
            self._logged_total, self._logged_at = self.total, now


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
    max_payload: int | None = None
    """The largest message the exchange is configured to publish (``None``: the broker's own limit)."""


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

    @property
    def max_payload(self) -> int | None:
        """Give the largest message this link may publish, once open (``None``: no limit)."""
        ...

    async def lost(self) -> BaseException:
        """Wait until the connection breaks and give the reason."""
        ...

    async def close(self) -> None:
        """Close the connection; never raises."""
        ...
