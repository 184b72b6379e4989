"""Per-connection outbound queue: ordered, bounded, with replies first.

Slow-consumer policy: frames are written straight to the socket while its write buffer
is below the high-water mark; past it they wait in this queue. When the queue holds
``limit`` frames the peer is treated as a slow consumer: the queue refuses further
frames and the connection is closed (code 1008, reason "slow consumer"). Nothing a slow
peer does delays delivery to any other connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from .protocol import Frame

logger = logging.getLogger("aioneffos")


class FrameSink(Protocol):
    """Where an outbox writes: a server socket (pre-framed bytes) or a client socket."""

    def write_now(self, frame: Frame) -> bool:
        """Write *frame* at once if the socket can take it without waiting; else return False."""
        ...

    async def write(self, frame: Frame) -> None:
        """Write *frame*, waiting for the socket to drain; raise `ConnectionError` once closed."""
        ...


class Outbox:
    """The ordered, bounded outbound queue of one connection."""

    __slots__ = (
        "_closed",
        "_idle",
        "_limit",
        "_on_overflow",
        "_queue",
        "_sink",
        "_task",
        "_urgent",
    )

    def __init__(self, sink: FrameSink, limit: int, on_overflow: Callable[[], None]) -> None:
        self._sink = sink
        self._limit = limit
        self._on_overflow = on_overflow
        self._queue: deque[Frame] = deque()
        self._urgent: deque[Frame] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._idle: asyncio.Event | None = None

    def __len__(self) -> int:
        return len(self._queue) + len(self._urgent)

    @property
    def closed(self) -> bool:
        """Tell whether the outbox refuses frames."""
        return self._closed

    def put(self, frame: Frame, *, urgent: bool = False) -> bool:
        """Queue *frame*; *urgent* frames (replies to asks, D15) jump ahead of queued ones.

        Return False when the outbox is closed or just overflowed.
        """
        if self._closed:
            return False
        if self._task is None:
            if self._sink.write_now(frame):
                return True
        elif len(self._queue) + len(self._urgent) >= self._limit:
            self._closed = True
            self._queue.clear()
            self._urgent.clear()
            self._on_overflow()
            return False
        (self._urgent if urgent else self._queue).append(frame)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush())
        return True

    async def _flush(self) -> None:
        sink, queue, urgent = self._sink, self._queue, self._urgent
        try:
            while urgent or queue:
                frame = urgent.popleft() if urgent else queue.popleft()
                await sink.write(frame)
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("outbox stopped: %s", exc)
            self._closed = True
            queue.clear()
            urgent.clear()
        finally:
            self._task = None
            if self._idle is not None:
                self._idle.set()

    async def drain(self) -> None:
        """Wait until every queued frame has been handed to the socket."""
        while self._task is not None:
            self._idle = asyncio.Event()
            await self._idle.wait()
            self._idle = None

    def close(self) -> None:
        """Refuse further frames and drop the queued ones."""
        self._closed = True
        self._queue.clear()
        self._urgent.clear()
        if self._task is not None:
            self._task.cancel()
