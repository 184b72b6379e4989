"""Per-connection outbound queue: ordered, bounded, with replies first.

Slow-consumer policy: frames are written straight to the socket while its write buffer
is below the high-water mark; past it they wait in this queue. When the queue holds
``limit`` frames or ``limit_bytes`` bytes of payload the peer is treated as a slow
consumer: the queue refuses further frames and the connection is closed (code 1008,
reason "slow consumer"). Bytes are counted only for frames that wait, so the common path
(written at once) pays nothing. Nothing a slow peer does delays delivery to any other
connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from .protocol import Frame
from .transport import FrameSink

logger = logging.getLogger("aioneffos.conn")


class Outbox:
    """The ordered, bounded outbound queue of one connection.

    The queue exists only while the socket is backed up or the outbox is held (a deque
    costs ~760 bytes, and most connections never need one).

    While the peer's ask is being handled the outbox is *held*: urgent frames (the reply,
    and our own asks) go out, everything else waits until `release`. The reply to an ask is
    thus the next frame the peer reads, which the Go client needs when it asks from inside
    an event callback (docs/protocol.md#reply-order). Past ``limit`` held frames the hold is given
    up rather than closing a peer that reads fine.
    """

    __slots__ = (
        "_bytes",
        "_closed",
        "_held",
        "_idle",
        "_limit",
        "_limit_bytes",
        "_on_overflow",
        "_queue",
        "_sink",
        "_task",
        "_urgent",
        "peak_bytes",
        "peak_frames",
    )

    def __init__(
        self,
        sink: FrameSink,
        limit: int,
        on_overflow: Callable[[], None],
        limit_bytes: int = 4 << 20,
    ) -> None:
        self._sink = sink
        self._limit = limit
        self._limit_bytes = limit_bytes
        self._on_overflow = on_overflow
        self._queue: deque[Frame] | None = None  # the frames waiting, None while none wait
        self._bytes = 0  # payload bytes of the queued frames
        self._urgent = 0  # urgent frames waiting at the head of the queue
        self._held = False  # while set, only urgent frames go out (`hold`)
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._idle: asyncio.Event | None = None
        self.peak_frames = 0
        """The most frames the queue has held at once (kept only when frames wait)."""
        self.peak_bytes = 0
        """The most payload bytes the queue has held at once."""

    def __len__(self) -> int:
        return len(self._queue) if self._queue is not None else 0

    @property
    def queued_bytes(self) -> int:
        """Give the payload bytes of the frames waiting in the queue (kept as they come and go)."""
        return self._bytes

    @property
    def closed(self) -> bool:
        """Tell whether the outbox refuses frames."""
        return self._closed

    def put(self, frame: Frame, *, urgent: bool = False) -> bool:
        """Queue *frame*; *urgent* frames (replies to asks) jump ahead of queued ones.

        Return False when the outbox is closed or just overflowed.
        """
        if self._closed:
            return False
        # Invariant: a non-urgent frame may be written at once only when nothing is queued,
        # which holds whenever no flush is running and the outbox is not held.
        if self._task is None and (urgent or not self._held) and self._sink.write_now(frame):
            return True
        queue = self._queue
        size = len(frame.payload)
        if queue is None:
            queue = self._queue = deque()
        elif queue and (len(queue) >= self._limit or self._bytes + size > self._limit_bytes):
            if not self._held:
                self._overflow()
                return False
            # Give up the hold rather than close a peer that reads fine.
            self.release()
            return self.put(frame, urgent=urgent)
        self._bytes += size
        if urgent:
            queue.insert(self._urgent, frame)
            self._urgent += 1
        else:
            queue.append(frame)
        if self._bytes > self.peak_bytes:
            self.peak_bytes = self._bytes
        if len(queue) > self.peak_frames:
            self.peak_frames = len(queue)
        if self._task is None and (self._urgent or not self._held):
            self._task = asyncio.get_running_loop().create_task(self._flush())
        return True

    def hold(self) -> None:
        """Let only urgent frames out until `release` (while the peer's ask is handled)."""
        self._held = True

    def release(self) -> None:
        """End a `hold`: write the frames it kept back, in order."""
        self._held = False
        queue = self._queue
        if queue is None or self._task is not None or self._closed:
            return
        write_now = self._sink.write_now
        while queue and write_now(queue[0]):
            self._bytes -= len(queue.popleft().payload)
        if queue:
            self._task = asyncio.get_running_loop().create_task(self._flush())
        else:
            self._queue = None

    def _overflow(self) -> None:
        self._drop()
        self._on_overflow()

    def _drop(self) -> None:
        self._closed = True
        self._queue = None
        self._bytes = 0

    async def _flush(self) -> None:
        sink = self._sink
        try:
            while self._queue and (self._urgent or not self._held):
                frame = self._queue.popleft()
                self._bytes -= len(frame.payload)
                if self._urgent:
                    self._urgent -= 1
                await sink.write(frame)
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("outbox stopped: %s", exc)
            self._drop()
        finally:
            self._task = None
            if not self._queue:
                self._queue = None
                self._urgent = 0
                self._bytes = 0
            self._wake_drainers()

    def _wake_drainers(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None:
            idle.set()

    async def drain(self) -> None:
        """Wait until every queued frame has been handed to the socket."""
        self.release()
        while self._task is not None:
            if self._idle is None:
                self._idle = asyncio.Event()
            await self._idle.wait()

    def close(self) -> None:
        """Refuse further frames and drop the queued ones."""
        self._drop()
        task, self._task = self._task, None
        if task is not None:
            # A task cancelled before it started never runs its finally: wake drainers here.
            task.cancel()
            self._wake_drainers()
