"""Waiting for a value to appear under a name (`Conn.wait_connect` waits for a namespace)."""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class NamedWaiters(Generic[T]):
    """Futures waiting for a value to appear under a name; `resolve` gives it to them all."""

    __slots__ = ("_waiting",)

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[T]]] = {}

    def resolve(self, name: str, value: T) -> None:
        """Give *value* to everything waiting for *name*."""
        for waiter in self._waiting.pop(name, ()):
            if not waiter.done():
                waiter.set_result(value)

    async def wait(self, name: str, *, until: asyncio.Future[Any], timeout: float) -> T | None:
        """Wait for the value of *name*; give ``None`` if *until* finishes first, and raise
        `TimeoutError` when neither happens within *timeout* seconds."""
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(name, []).append(waiter)
        try:
            done, _ = await asyncio.wait(
                (waiter, until), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiters = self._waiting.get(name)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiting[name]
        if waiter in done:
            return waiter.result()
        waiter.cancel()
        if done:
            return None
        raise TimeoutError
