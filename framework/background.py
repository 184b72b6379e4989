"""Work a connection or a server runs in the background, kept alive until it is done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("aioneffos.conn")


class Background:
    """Tasks running work in the background: referenced until done (the event loop holds
    tasks only weakly), and their failures logged."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def run(self, work: Callable[[], Awaitable[Any]], owner: object) -> None:
        """Run *work* in a task; log its failure, naming *owner*."""

        async def run() -> None:
            try:
                await work()
            except Exception:
                logger.exception("%r: background work failed", owner)

        self.keep(asyncio.get_running_loop().create_task(run()))

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold *task* until it is done."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def cancel(self) -> None:
        """Cancel every task still running."""
        for task in list(self._tasks):
            task.cancel()
