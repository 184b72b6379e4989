"""The `Exchange` seam: how a server delivers beyond its own process.

A `Server` hands every broadcast and server ask to its exchange. `LocalExchange`, the
default, delivers inside this process. A scale-out exchange (Redis, NATS) also carries
them to the other nodes, and each node delivers to its own connections with
`Server.deliver` / `Server.ask_local`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import attrs

from .message import Message

if TYPE_CHECKING:
    from .conn import Conn
    from .server import Server


@attrs.frozen
class Exclusion:
    """Who a broadcast skips: one connection (by `Conn.key`) and/or every connection with an id."""

    conn_key: str = ""
    conn_id: str = ""

    def excludes(self, conn: Conn) -> bool:
        """Tell whether *conn* is skipped."""
        return (bool(self.conn_key) and conn.key == self.conn_key) or (
            bool(self.conn_id) and conn.id == self.conn_id
        )

    def __bool__(self) -> bool:
        return bool(self.conn_key or self.conn_id)


NO_EXCLUSION = Exclusion()


class Exchange(Protocol):
    """Carries broadcasts and asks to every node; the server calls it, handlers never do."""

    async def start(self, server: Server) -> None:
        """Begin serving *server* (called once, before the first connection)."""
        ...

    async def stop(self) -> None:
        """Stop and release every resource."""
        ...

    def publish(self, msg: Message, exclusion: Exclusion) -> None:
        """Deliver *msg* to every matching connection of the cluster, this node included."""
        ...

    async def ask(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask every matching connection of the cluster; return the first reply."""
        ...

    def namespace_active(self, namespace: str) -> None:
        """This node gained its first connection in *namespace* (subscribe to its traffic)."""
        ...

    def namespace_idle(self, namespace: str) -> None:
        """This node lost its last connection in *namespace* (unsubscribe)."""
        ...


class LocalExchange:
    """The default exchange: one process, no broker, zero set-up."""

    def __init__(self) -> None:
        self._server: Server | None = None

    async def start(self, server: Server) -> None:
        """Remember *server*."""
        self._server = server

    async def stop(self) -> None:
        """Nothing to release."""

    def _local(self) -> Server:
        if self._server is None:
            raise RuntimeError("exchange used before Server.start()")
        return self._server

    def publish(self, msg: Message, exclusion: Exclusion) -> None:
        """Deliver *msg* to this process's connections."""
        self._local().deliver(msg, exclusion)

    async def ask(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask this process's matching connections."""
        return await self._local().ask_local(msg, exclusion, timeout)

    def namespace_active(self, namespace: str) -> None:
        """Nothing to subscribe to."""

    def namespace_idle(self, namespace: str) -> None:
        """Nothing to unsubscribe from."""
