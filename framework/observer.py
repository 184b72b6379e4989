"""The observation seam: what a `Server` tells an `Observer` (metrics, tracing) as it works.

`Server.observe` installs one observer, before the server has connections; without one
(the default) the per-message code pays nothing for this seam, except a single attribute
test in `NSConn.emit`, `NSConn.ask` and `Server.deliver`. `aioneffos.framework.metrics`
is an observer that keeps Prometheus counters.

An observer sees:

* each connection when it opens (upgraded, before the handshake) and when it has been torn
  down (`Conn.closed_with` and `Conn.close_code` say how it ended);
* each message from a peer once it is routed, with the work its connection awaits for it:
  the observer gives that work back, or an awaitable that awaits it (to time it). The work
  gives an `Outcome` (what became of the message) when it is a handler or a request;
* the messages this server sends by event: emits, broadcasts (their recipients here) and
  asks, and the asks it makes (`NSConn.ask`, `Server.ask`), which it awaits itself.

Every call runs on the event loop, inline: an observer must not block or raise.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from .outcomes import EMPTY, ERROR, LIMITED, NONE, REFUSED, REPLY, UNKNOWN, Outcome

if TYPE_CHECKING:
    from .conn import Conn
    from .message import Message

__all__ = ["EMPTY", "ERROR", "LIMITED", "NONE", "REFUSED", "REPLY", "UNKNOWN", "Observer", "Outcome"]


class Observer(Protocol):
    """Told what a server does; see the module docstring. Install one with `Server.observe`."""

    def opened(self, conn: Conn) -> None:
        """*conn*'s websocket was upgraded; its handshake comes next."""
        ...

    def closed(self, conn: Conn, accepted: bool) -> None:
        """*conn* has ended and been torn down; *accepted* tells whether its handshake completed."""
        ...

    def routed(
        self, conn: Conn, msg: Message, work: Awaitable[Outcome | None] | None
    ) -> Awaitable[object] | None:
        """*msg* came from *conn*'s peer and was routed; *work* is what the connection awaits
        for it (``None``: answered or dropped at once). Give *work*, or an awaitable of it."""
        ...

    def sent(self, namespace: str, event: str, count: int) -> None:
        """*count* messages of *event* in *namespace* went to peers (an emit, a broadcast, asks)."""
        ...

    async def asking(self, msg: Message, reply: Awaitable[Message]) -> Message:
        """This server asks *msg*: await *reply* and give what it gives (raise what it raises)."""
        ...
