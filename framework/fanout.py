"""Calling one function with many connections and awaiting what it returns (`Server.do`)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class _Done:
    """An awaitable that is already complete: `Server.do` when the function did all its work."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # a generator: awaiting it returns at once


DONE: Awaitable[None] = _Done()


def call_each(
    fn: Callable[[T], object],
    targets: Sequence[T],
    *,
    concurrent: bool,
    is_live: Callable[[T], bool],
) -> Coroutine[Any, Any, None] | None:
    """Call *fn* with each target; give a coroutine awaiting what it returned, or ``None``.

    Calls that give no awaitable are done when this returns. With *concurrent*, *fn* is
    called for every target now and the awaitables run together; otherwise each
    awaitable is finished before *fn* is called for the next target, and targets that
    *is_live* no longer accepts are skipped. An exception raised by *fn* here propagates
    (awaitables made so far are dropped); later failures are gathered into an
    `ExceptionGroup` by the coroutine.
    """
    pending: list[tuple[T, Awaitable[object]]] = []
    rest: Sequence[T] = targets
    if concurrent or not inspect.iscoroutinefunction(fn):
        rest = ()
        for index, target in enumerate(targets):
            try:
                result = fn(target)
            except BaseException:
                _discard(pending)
                raise
            if inspect.isawaitable(result):
                pending.append((target, result))
                if not concurrent:
                    rest = targets[index + 1 :]
                    break
    if not pending and not rest:
        return None
    if concurrent:
        return _together(pending)
    return _in_turn(fn, pending, rest, is_live)


async def _together(pending: list[tuple[T, Awaitable[object]]]) -> None:
    failures: list[Exception] = []
    await asyncio.gather(*(_settle(target, awaitable, failures) for target, awaitable in pending))
    _raise(failures)


async def _in_turn(
    fn: Callable[[T], object],
    started: list[tuple[T, Awaitable[object]]],
    rest: Sequence[T],
    is_live: Callable[[T], bool],
) -> None:
    failures: list[Exception] = []
    for target, awaitable in started:
        await _settle(target, awaitable, failures)
    for target in rest:
        if not is_live(target):
            continue
        try:
            result = fn(target)
        except Exception as exc:
            exc.add_note(f"while Server.do ran for {target!r}")
            failures.append(exc)
            continue
        if inspect.isawaitable(result):
            await _settle(target, result, failures)
    _raise(failures)


async def _settle(target: object, awaitable: Awaitable[object], failures: list[Exception]) -> None:
    try:
        await awaitable
    except Exception as exc:
        exc.add_note(f"while Server.do ran for {target!r}")
        failures.append(exc)


def _raise(failures: list[Exception]) -> None:
    if failures:
        raise ExceptionGroup(f"Server.do: the function failed for {len(failures)} connection(s)", failures)


def _discard(pending: list[tuple[T, Awaitable[object]]]) -> None:
    """Drop awaitables that will never be awaited, without a "never awaited" warning."""
    for _, awaitable in pending:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        elif isinstance(awaitable, asyncio.Future):
            awaitable.cancel()
