"""`Cleanup` and `run_cleanups`: work deferred until a scope ends (a namespace connection, an event).

`NSConn.defer` collects them for a namespace connection; the controllers and DI layers use
the same two names for the scopes they open (an event, the application).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger("aioneffos.handlers")

Cleanup = Callable[[], Awaitable[Any] | Any]
"""Something to run when a scope ends: sync, or returning an awaitable."""


async def run_cleanups(cleanups: list[Cleanup], owner: object) -> None:
    """Pop and run *cleanups*, last first; log each failure (naming *owner*) and go on."""
    while cleanups:
        cleanup = cleanups.pop()
        try:
            result = cleanup()
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("%s: cleanup %r failed", owner, cleanup)
