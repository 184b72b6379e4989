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
    """The ordered, bounded outbound queue of one connection.

    The queue exists only while the socket is backed up (a deque costs ~760 bytes, and
    most connections never need one).
    """

    __slots__ = ("_closed", "_idle", "_limit", "_on_overflow", "_queue", "_sink", "_task", "_urgent")

    def __init__(self, sink: FrameSink, limit: int, on_overflow: Callable[[], None]) -> None:
        self._sink = sink
        self._limit = limit
        self._on_overflow = on_overflow
        self._queue: deque[Frame] | None = None
        self._urgent = 0  # urgent frames waiting at the head of the queue
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._idle: asyncio.Event | None = None

    def __len__(self) -> int:
        return len(self._queue) if self._queue is not None else 0

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
        queue = self._queue
        if self._task is None:
            if self._sink.write_now(frame):
                return True
            if queue is None:
                queue = self._queue = deque()
        elif queue is not None and len(queue) >= self._limit:
            self._overflow()
            return False
        assert queue is not None
        if urgent:
            queue.insert(self._urgent, frame)
            self._urgent += 1
        else:
            queue.append(frame)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush())
        return True

    def _overflow(self) -> None:
        self._closed = True
        self._queue = None
        self._on_overflow()

    async def _flush(self) -> None:
        sink = self._sink
        try:
            while self._queue:
                frame = self._queue.popleft()
                if self._urgent:
                    self._urgent -= 1
                await sink.write(frame)
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("outbox stopped: %s", exc)
            self._closed = True
        finally:
            self._task = None
            self._queue = None
            self._urgent = 0
            self._wake_drainers()

    def _wake_drainers(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None:
            idle.set()

    async def drain(self) -> None:
        """Wait until every queued frame has been handed to the socket."""
        while self._task is not None:
            if self._idle is None:
                self._idle = asyncio.Event()
            await self._idle.wait()

    def close(self) -> None:
        """Refuse further frames and drop the queued ones."""
        self._closed = True
        self._queue = None
        task, self._task = self._task, None
        if task is not None:
            # A task cancelled before it started never runs its finally: wake drainers here.
            task.cancel()
            self._wake_drainers()
