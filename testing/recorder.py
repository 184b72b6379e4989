"""`Recorder`: the client's handlers that keep what the server sends, for tests to await.

A recorder is what ``connect``/``dial`` take as the client's namespaces. Every message the
server sends to the client (events, error messages, server asks, and the system events the
server causes: a forced disconnect, a join it made) is kept in arrival order; the client's
own connects, joins and leaves are not. The handlers given to the recorder still run, and
what they return still answers the server's asks; an ask without a handler gets the empty
reply.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Mapping
from typing import TypeAlias, cast

from aioneffos.framework import (
    ON_ANY_EVENT,
    ON_NATIVE_MESSAGE,
    ConnHandler,
    Handler,
    Message,
    Namespaces,
    NeffosError,
    NSConn,
)

DEFAULT_TIMEOUT = 5.0
"""Seconds `Recorder.next` waits by default."""

ClientHandlers: TypeAlias = ConnHandler | Mapping[str, Mapping[str, Handler]]
"""The client's own handlers, as ``dial`` takes them."""

_SHOWN = 60
"""Characters of a body shown in an error message."""


class NotReceivedError(NeffosError, TimeoutError):
    """`Recorder.next` waited *timeout* seconds and the message did not come; the text names
    the event and lists what was received instead."""


class Recorder:
    """Record what a client receives; give it as the client's namespaces.

    ``Recorder()`` serves, with `aioneffos.testing.connect`, every namespace of the server;
    ``Recorder(["chat"])`` the namespaces named; ``Recorder({"chat": {"question": answer}})``
    the given handlers, which still run (their return value answers the server's asks).
    Use one recorder per client.
    """

    def __init__(self, namespaces: ClientHandlers | Iterable[str] | None = None) -> None:
        self._source = _namespaces_of(namespaces) if namespaces is not None else None
        self._messages: list[Message] = []
        self._taken: list[bool] = []
        self._waiters: list[asyncio.Event] = []

    def __repr__(self) -> str:
        return f"<Recorder {len(self._messages)} received, {sum(self._taken)} taken>"

    # -- reading ------------------------------------------------------------------------

    def all(self, event: str | None = None, *, namespace: str | None = None) -> list[Message]:
        """Give every message received so far (of *event*, in *namespace*), oldest first,
        taken by `next` or not; never waits."""
        return [m for m in self._messages if _matches(m, event, namespace)]

    async def next(
        self, event: str, *, namespace: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> Message:
        """Give the oldest *event* message (in *namespace*) not yet taken by `next`, waiting
        for it up to *timeout* seconds; messages of other events stay for their own `next`.

        Raise `NotReceivedError` (a `TimeoutError`) naming *event* and listing what came instead.
        """
        __tracebackhide__ = True  # pytest shows the test's line, not this one
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for index, message in enumerate(self._messages):
                        if not self._taken[index] and _matches(message, event, namespace):
                            self._taken[index] = True
                            return message
                    arrived = asyncio.Event()
                    self._waiters.append(arrived)
                    try:
                        await arrived.wait()
                    finally:
                        self._waiters.remove(arrived)
        except TimeoutError:
            raise NotReceivedError(self._missing(event, namespace, timeout)) from None

    # -- as the client's handlers ---------------------------------------------------------

    def get_namespaces(self) -> Mapping[str, Mapping[str, Handler]]:
        """Give the recording handlers of the namespaces given (the `ConnHandler` protocol).

        Raise `TypeError` for ``Recorder()``, which learns its namespaces from the server
        `aioneffos.testing.connect` connects to.
        """
        if self._source is None:
            raise TypeError(
                "Recorder() takes the namespaces of the server it connects to through "
                "aioneffos.testing.connect; to dial a URL, name them: Recorder(['chat'])"
            )
        return self.wrap(self._source)

    @property
    def declared(self) -> bool:
        """Tell whether the namespaces were given (else `wrap` is given the server's)."""
        return self._source is not None

    def wrap(self, namespaces: Mapping[str, Mapping[str, Handler]]) -> Namespaces:
        """Give *namespaces* with every handler recording first, and a recording
        ``_OnAnyEvent`` for the events without one (a native-only client records
        ``_OnNativeMessage`` alone, so that it stays native-only)."""
        wrapped = Namespaces()
        native_only = list(namespaces) == [""] and list(namespaces[""]) == [ON_NATIVE_MESSAGE]
        for name, events in namespaces.items():
            table = {event: self._recording(handler) for event, handler in events.items()}
            if not native_only and ON_ANY_EVENT not in table:
                table[ON_ANY_EVENT] = self._record
            wrapped[name] = table
        return wrapped

    def _recording(self, handler: Handler) -> Handler:
        async def record(ns: NSConn, msg: Message) -> object:
            self._keep(msg)
            result = handler(ns, msg)
            return await result if inspect.isawaitable(result) else result

        return record

    async def _record(self, ns: NSConn, msg: Message) -> None:
        self._keep(msg)

    def _keep(self, msg: Message) -> None:
        if msg.is_local:
            return  # the client's own connect, join, leave: not something it received
        self._messages.append(msg)
        self._taken.append(False)
        for waiter in self._waiters:
            waiter.set()

    # -- the failure message ---------------------------------------------------------------

    def _missing(self, event: str, namespace: str | None, timeout: float) -> str:
        where = f" in namespace {namespace!r}" if namespace is not None else ""
        head = f"no {event!r} message{where} within {timeout:g} s"
        waiting = [m for m, taken in zip(self._messages, self._taken, strict=True) if not taken]
        taken = len(self._messages) - len(waiting)
        earlier = f" ({taken} taken earlier by next())" if taken else ""
        if not waiting:
            return f"{head}; nothing else was received{earlier}"
        lines = [f"{head}; received instead, oldest first{earlier}:"]
        lines.extend(f"  {describe(message)}" for message in waiting)
        return "\n".join(lines)


def describe(msg: Message) -> str:
    """Give one line saying what *msg* is: namespace, room, event, and its body or error."""
    place = msg.namespace + (f"#{msg.room}" if msg.room else "")
    if msg.err is not None:
        content = f"error {_clip(msg.err)!r}"
    elif msg.is_binary:
        content = repr(msg.body[:_SHOWN]) + ("..." if len(msg.body) > _SHOWN else "")
    else:
        content = repr(_clip(msg.text))
    ask = " (an ask)" if msg.wait else ""
    return f"{msg.event!r} on {place!r}{ask}: {content}"


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _matches(msg: Message, event: str | None, namespace: str | None) -> bool:
    return (event is None or msg.event == event) and (namespace is None or msg.namespace == namespace)


def _namespaces_of(given: ClientHandlers | Iterable[str]) -> Mapping[str, Mapping[str, Handler]]:
    if isinstance(given, ConnHandler):
        return given.get_namespaces()
    if isinstance(given, Mapping):
        return cast(Mapping[str, Mapping[str, Handler]], given)
    if isinstance(given, str):
        raise TypeError(f"give namespace names as a list: Recorder([{given!r}])")
    return {name: {} for name in given}
