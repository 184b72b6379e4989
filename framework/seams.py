"""The seams between a `Conn` and what surrounds it, besides its socket (`transport`): its
`Hub` (the `Server` that accepted it) or its `ClientSide` (what `dial` keeps: the reading
task, the handles to restore), and the `Session` its inbound loop needs of it, with the
`Router` that says what each message means.

They are generic in the connection types, so this module knows no connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from .message import Message

N = TypeVar("N", contravariant=True)
"""The namespace connection (`NSConn`)."""


class Hub(Protocol[N]):
    """Where a server-side connection belongs: it indexes namespace and room membership for
    delivery (`Server.broadcast`, `Server.ask`), broadcasts for `NSConn.broadcast`, and lets
    a busy publisher wait for room on the bus."""

    def namespace_connected(self, ns_conn: N) -> None:
        """*ns_conn* is connected: deliver its namespace's messages to it."""
        ...

    def namespace_disconnected(self, ns_conn: N) -> None:
        """*ns_conn* is gone: deliver nothing more to it."""
        ...

    def room_joined(self, ns_conn: N, room: str) -> None:
        """*ns_conn* joined *room*."""
        ...

    def room_left(self, ns_conn: N, room: str) -> None:
        """*ns_conn* left *room*."""
        ...

    def broadcast(self, msg: Message, exclude: N | None = None) -> None:
        """Send *msg* to every matching connection, but *exclude* (see `Server.broadcast`)."""
        ...

    async def drain(self) -> None:
        """Wait, bounded, until the exchange has room for more broadcasts (`Server.drain`)."""
        ...


class ClientSide(Protocol[N]):
    """What `dial` keeps for a client connection: the task that reads it (and reconnects it,
    with ``reconnect=``), and the handles to restore on the same objects after a drop."""

    @property
    def reconnecting(self) -> bool:
        """Tell whether the socket dropped and the handles are not all restored yet."""
        ...

    @property
    def done(self) -> asyncio.Future[Any]:
        """The reading task: done once the connection has ended for good."""
        ...

    def remember(self, namespaces: Mapping[str, N]) -> None:
        """The socket dropped: keep the live namespaces and their rooms (the very objects) to
        restore, when the client reconnects; otherwise nothing."""
        ...

    def will_restore(self, ns: N, room: str = "") -> bool:
        """Tell whether *ns* (and its *room*) is to be restored."""
        ...

    def forget(self, ns: N, room: str = "") -> None:
        """Do not restore *ns* (or only its *room*): the program left it meanwhile."""
        ...

    async def stop(self, *, now: bool, timeout: float) -> None:
        """The connection closes: wait, bounded, for the reading task to end (with *now*, stop
        it at once: it may be waiting to dial again)."""
        ...


class Session(Protocol):
    """What the inbound loop asks of its connection."""

    @property
    def id(self) -> str:
        """The connection id (for logs)."""
        ...

    @property
    def answered(self) -> str:
        """The token of the last ask this side answered."""
        ...

    def reply_error(self, msg: Message, text: str) -> None:
        """Answer the peer's ask *msg* with an error reply carrying *text*."""
        ...

    async def close(self, code: int = ..., reason: str = ..., *, drain: bool = ...) -> None:
        """Close the connection with *code* and *reason*."""
        ...

    def socket_ended(self) -> None:
        """Learn that the socket has ended (the loop read its end, or was cancelled)."""
        ...

    async def pace(self) -> None:
        """Wait, for a bounded time, until the server's exchange has room again (backpressure)."""
        ...


S = TypeVar("S", bound=Session)

Router = Callable[[S, Message], Awaitable[object] | None]
"""What an incoming message means: gives the work to await (a handler, a request), or
``None`` when it was answered or dropped at once (`routing.route`); what the work gives is
for an observer (`Server.observe`), the loop drops it."""
