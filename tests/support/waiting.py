"""Waiting without sleeping: the suite's timeout and its one collector of what handlers report."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from aioneffos.framework import Message, NSConn

TIMEOUT = 5.0
"""Seconds any single wait may take before the test fails."""


async def wait_for(awaitable: Awaitable[Any], timeout: float = TIMEOUT) -> Any:
    """Await *awaitable* under the suite's timeout."""
    async with asyncio.timeout(timeout):
        return await awaitable


class Inbox:
    """Collects what handlers, hooks and dependencies report; tests await it under a timeout.

    Record with ``inbox.put(x)`` (or ``inbox(x)``, as a callback), or hand `handler` to a
    namespace's events. Read in order with `get`, look at everything so far in `entries`,
    or wait until a given entry has come with `wait_for`.
    """

    def __init__(self) -> None:
        self.entries: list[Any] = []
        """Everything recorded so far, in order (`get` does not remove from it)."""
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._waiters: list[asyncio.Event] = []

    def put(self, item: Any) -> None:
        """Record *item*."""
        self.entries.append(item)
        self._queue.put_nowait(item)
        for waiter in self._waiters:
            waiter.set()

    __call__ = put

    async def handler(self, ns: NSConn, msg: Message) -> None:
        """An event handler that records every message it gets."""
        self.put(msg)

    async def get(self, timeout: float = TIMEOUT) -> Any:
        """Give the next item not read yet."""
        async with asyncio.timeout(timeout):
            return await self._queue.get()

    def empty(self) -> bool:
        """Tell whether every recorded item has been read."""
        return self._queue.empty()

    async def wait_for(self, entry: Any, timeout: float = TIMEOUT) -> None:
        """Wait until *entry* has been recorded (now or earlier)."""
        async with asyncio.timeout(timeout):
            while entry not in self.entries:
                waiter = asyncio.Event()
                self._waiters.append(waiter)
                try:
                    await waiter.wait()
                finally:
                    self._waiters.remove(waiter)

    def clear(self) -> None:
        """Forget everything recorded (between tests sharing one inbox)."""
        self.entries.clear()
        self._queue = asyncio.Queue()
