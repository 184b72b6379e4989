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

    def room_active(self, namespace: str, room: str) -> None:
        """This node gained its first member of *room* in *namespace*."""
        ...

    def room_idle(self, namespace: str, room: str) -> None:
        """This node lost its last member of *room* in *namespace*."""
        ...

    def conn_active(self, conn_id: str) -> None:
        """This node gained its first connection with id *conn_id* (for ``to=`` sends)."""
        ...

    def conn_idle(self, conn_id: str) -> None:
        """This node lost its last connection with id *conn_id*."""
        ...

    def close_connection(self, conn_id: str, code: int, reason: str) -> None:
        """Close every connection of the cluster with id *conn_id*, this node included."""
        ...

    async def count_connections(self) -> int:
        """Count the live connections of the whole cluster."""
        ...

    @property
    def healthy(self) -> bool:
        """Tell whether the other nodes are reachable (always true without a broker)."""
        ...

    async def synced(self, timeout: float | None = None) -> bool:
        """Wait until every subscription asked for so far is in effect; False if it is not in time."""
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

    def room_active(self, namespace: str, room: str) -> None:
        """Nothing to subscribe to."""

    def room_idle(self, namespace: str, room: str) -> None:
        """Nothing to unsubscribe from."""

    def conn_active(self, conn_id: str) -> None:
        """Nothing to subscribe to."""

    def conn_idle(self, conn_id: str) -> None:
        """Nothing to unsubscribe from."""

    def close_connection(self, conn_id: str, code: int, reason: str) -> None:
        """Close this process's connections with id *conn_id*."""
        self._local().close_local(conn_id, code, reason)

    async def count_connections(self) -> int:
        """Count this process's connections."""
        return self._local().total_connections

    @property
    def healthy(self) -> bool:
        """Always true: there is no broker to lose."""
        return True

    async def synced(self, timeout: float | None = None) -> bool:
        """Always in effect: there is nothing to subscribe to."""
        return True
