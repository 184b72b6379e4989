"""Server-side recording for the compat suite: handlers that report their calls.

A `Probe` wraps server handlers (and ``on_connect``) so that a test can await, with a
timeout, the moment our server saw something, and assert exactly what it saw.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from aioneffos.framework import Conn, Message, NSConn
from support.waiting import TIMEOUT

"""Seconds any single wait of the compat suite may take."""

Then = Callable[[NSConn, Message], Any]
"""What a probed handler does after recording: its return value is the handler's."""


@attrs.frozen
class Call:
    """One call of a probed server-side handler (or of ``on_connect``)."""

    handler: str
    conn_id: str
    namespace: str = ""
    room: str = ""
    event: str = ""
    body: bytes = b""
    wait: str = ""
    is_binary: bool = False
    is_native: bool = False
    is_local: bool = False
    is_forced: bool = False
    reconnect_tries: int = 0


@attrs.define(eq=False)
class _Waiter:
    match: Callable[[Call], bool]
    future: asyncio.Future[Call]


@attrs.define(eq=False)
class Probe:
    """Records calls; `next` takes the oldest untaken call matching a filter, waiting for it."""

    calls: list[Call] = attrs.Factory(list)
    """Every call so far, in order (taken or not)."""
    _pending: list[Call] = attrs.Factory(list)
    _waiters: list[_Waiter] = attrs.Factory(list)

    def _put(self, call: Call) -> None:
        self.calls.append(call)
        for waiter in self._waiters:
            if not waiter.future.done() and waiter.match(call):
                waiter.future.set_result(call)
                self._waiters.remove(waiter)
                return
        self._pending.append(call)

    def record(self, handler: str, ns: NSConn, msg: Message) -> Call:
        """Record that *handler* ran for *msg* on *ns*."""
        call = Call(
            handler=handler,
            conn_id=ns.conn.id,
            namespace=msg.namespace,
            room=msg.room,
            event=msg.event,
            body=msg.body,
            wait=msg.wait,
            is_binary=msg.is_binary,
            is_native=msg.is_native,
            is_local=msg.is_local,
            is_forced=msg.is_forced,
            reconnect_tries=ns.conn.reconnect_tries,
        )
        self._put(call)
        return call

    def record_conn(self, handler: str, conn: Conn) -> Call:
        """Record a connection-level callback such as ``on_connect``."""
        call = Call(handler=handler, conn_id=conn.id, reconnect_tries=conn.reconnect_tries)
        self._put(call)
        return call

    def on(self, handler: str, then: Then | None = None) -> Callable[[NSConn, Message], Awaitable[Any]]:
        """A server handler that records its call, then returns what *then* returns (or None)."""

        async def probed(ns: NSConn, msg: Message) -> Any:
            self.record(handler, ns, msg)
            if then is None:
                return None
            result = then(ns, msg)
            if inspect.isawaitable(result):
                result = await result
            return result

        return probed

    def events(self, *names: str, **handlers: Then | None) -> dict[str, Callable[..., Awaitable[Any]]]:
        """Probed handlers: each of *names* only records; *handlers* maps event -> then."""
        table = {name: self.on(name) for name in names}
        table.update({name: self.on(name, then) for name, then in handlers.items()})
        return table

    async def next(
        self,
        handler: str | None = None,
        *,
        conn_id: str | None = None,
        room: str | None = None,
        where: Callable[[Call], bool] | None = None,
        timeout: float = TIMEOUT,
    ) -> Call:
        """Take the oldest untaken call matching every given filter, waiting up to *timeout*."""

        def match(call: Call) -> bool:
            return (
                (handler is None or call.handler == handler)
                and (conn_id is None or call.conn_id == conn_id)
                and (room is None or call.room == room)
                and (where is None or where(call))
            )

        for i, call in enumerate(self._pending):
            if match(call):
                return self._pending.pop(i)
        waiter = _Waiter(match, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError:
            seen = "\n  ".join(map(repr, self.calls[-15:])) or "(none)"
            raise AssertionError(
                f"server handler {handler!r} (conn_id={conn_id!r}, room={room!r}) not called "
                f"within {timeout}s; calls so far:\n  {seen}"
            ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def seen(self, handler: str, *, conn_id: str | None = None) -> list[Call]:
        """Every call of *handler* so far (optionally of one connection), taken or not."""
        return [c for c in self.calls if c.handler == handler and (conn_id is None or c.conn_id == conn_id)]


def counting_ids(prefix: str = "conn-") -> Callable[[object], str]:
    """An ``id_generator`` giving ``conn-1``, ``conn-2``... in order of upgrade."""
    counter = iter(range(1, 1_000_000))
    return lambda _request: f"{prefix}{next(counter)}"
