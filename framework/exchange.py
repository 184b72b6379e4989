"""The `Exchange` seam: how a server reaches the other nodes of its cluster.

A `Server` delivers broadcasts and forced closes to its own connections itself, then hands
them to its exchange, which forwards them to the other nodes; server asks and connection
counts go through the exchange, which adds the other nodes' answers to this node's. The
server tells the exchange what it has local recipients for (`subscribe`/`unsubscribe` with
a `Target`), and the exchange calls back only through `LocalNode`. `LocalExchange`, the
default, has no other nodes. Scale-out exchanges live in `aioneffos.framework.scaleout`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Protocol

import attrs

from .message import Message
from .presence import LocalRoster, PresenceEvent, Roster


class ExchangeHealth(StrEnum):
    """How well an exchange reaches the other nodes."""

    UP = "up"
    """The broker link is up and subscribed, and the outgoing queue keeps up."""
    DEGRADED = "degraded"
    """The link is up, but its outgoing queue is backing up, or dropped messages lately."""
    DOWN = "down"
    """The broker is unreachable: only this node's connections are served."""


class ClusterCount(int):
    """A count of the cluster's connections: an `int`, plus how much of it is current.

    *stale* is true when part of it is a last known figure: some nodes did not answer in
    time (*missing* names them; their last known counts are included), or this node's
    broker is unreachable. *age* is the age in seconds of the oldest figure included.
    """

    stale: bool
    age: float
    missing: tuple[str, ...]

    def __new__(
        cls, value: int, *, stale: bool = False, age: float = 0.0, missing: tuple[str, ...] = ()
    ) -> ClusterCount:
        count = super().__new__(cls, value)
        count.stale, count.age, count.missing = stale, age, missing
        return count

    __str__ = int.__repr__

    def __repr__(self) -> str:
        return f"ClusterCount({int(self)}, stale={self.stale}, age={self.age:.1f}, missing={self.missing!r})"


@attrs.frozen
class Exclusion:
    """Who a broadcast skips: one connection (by its cluster-wide key) and/or every
    connection with an id (docs/protocol.md#connection-ids)."""

    conn_key: str = ""
    conn_id: str = ""

    def excludes(self, conn_key: str, conn_id: str) -> bool:
        """Tell whether the connection with key *conn_key* and id *conn_id* is skipped."""
        return (bool(self.conn_key) and conn_key == self.conn_key) or (
            bool(self.conn_id) and conn_id == self.conn_id
        )

    def __bool__(self) -> bool:
        return bool(self.conn_key or self.conn_id)


NO_EXCLUSION = Exclusion()


@attrs.frozen
class Target:
    """What a node has local recipients for: a namespace, a room of a namespace, or a
    connection id. Make one with `of_namespace`, `of_room`, `of_conn` or `of_message`."""

    namespace: str = ""
    room: str = ""
    """A room of *namespace*; empty for the whole namespace."""
    conn_id: str = ""
    """A connection id; when set, the target is that id, whatever the other fields say."""

    @classmethod
    def of_namespace(cls, namespace: str) -> Target:
        """Target the connections of *namespace*."""
        return cls(namespace)

    @classmethod
    def of_room(cls, namespace: str, room: str) -> Target:
        """Target the members of *room* in *namespace*."""
        return cls(namespace, room)

    @classmethod
    def of_conn(cls, conn_id: str) -> Target:
        """Target the connections with id *conn_id* (``to=`` sends, asks and closes)."""
        return cls(conn_id=conn_id)

    @classmethod
    def of_message(cls, msg: Message) -> Target:
        """Target what a broadcast or ask of *msg* reaches first: its ``to`` id, else its
        room, else its namespace."""
        if msg.to:
            return cls(conn_id=msg.to)
        return cls(msg.namespace, msg.room)

    @property
    def kind(self) -> Literal["conn", "room", "namespace"]:
        """Tell which of the three this target is."""
        if self.conn_id:
            return "conn"
        return "room" if self.room else "namespace"


class LocalNode(Protocol):
    """What an exchange may ask of the server it serves (a `Server` is one)."""

    @property
    def node_id(self) -> str:
        """This node's id within the cluster."""
        ...

    @property
    def ask_timeout(self) -> float:
        """Seconds an ask waits by default (for asks from other nodes without their own)."""
        ...

    @property
    def total_connections(self) -> int:
        """Count this node's live connections."""
        ...

    def deliver(self, msg: Message, exclusion: Exclusion = ...) -> int:
        """Write *msg* to this node's matching connections; give how many."""
        ...

    async def ask_local(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask this node's matching connections; give the first reply (see `Server.ask`)."""
        ...

    def close_local(self, conn_id: str, code: int = ..., reason: str = ...) -> int:
        """Close this node's connections with id *conn_id*; give how many."""
        ...

    @property
    def roster(self) -> LocalRoster:
        """This node's presence: its seats, its listeners, room changes by connection id."""
        ...


class Exchange(Protocol):
    """Carries what crosses nodes; the server calls it, handlers never do."""

    async def start(self, node: LocalNode) -> None:
        """Begin serving *node* (called once, before the first connection)."""
        ...

    async def stop(self) -> None:
        """Stop and release every resource."""
        ...

    def subscribe(self, target: Target) -> None:
        """This node gained its first local recipient for *target*: take its traffic."""
        ...

    def unsubscribe(self, target: Target) -> None:
        """This node lost its last local recipient for *target*."""
        ...

    def publish(self, msg: Message, exclusion: Exclusion) -> None:
        """Forward *msg* to the other nodes; the server delivers it here after this returns.

        Raise `PayloadTooLargeError` (and forward nothing) when *msg* is too large for the broker.
        """
        ...

    @property
    def congested(self) -> bool:
        """Tell whether publishers should wait (`drain`) before they publish more."""
        ...

    async def drain(self) -> None:
        """Wait, for a bounded time, until the exchange has room for more (at once when it has)."""
        ...

    def close_connection(self, conn_id: str, code: int, reason: str) -> None:
        """Forward a forced close of id *conn_id* to the other nodes (done here already)."""
        ...

    async def ask(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask every matching connection of the cluster, this node's included; give the first reply."""
        ...

    async def count_connections(self) -> ClusterCount:
        """Count the live connections of the whole cluster, this node's included, within a short bound."""
        ...

    def member_changed(self, event: PresenceEvent) -> None:
        """Forward a presence change of this node's connections to the other nodes."""
        ...

    async def roster(self, namespace: str) -> Roster:
        """Give the other nodes' connections to *namespace*, as this node knows them (waiting
        a short bound for a roster being fetched again)."""
        ...

    async def change_room(
        self, conn_id: str, namespace: str, room: str, *, join: bool, timeout: float
    ) -> int:
        """Make the other nodes' connections with id *conn_id* in *namespace* join (or leave)
        *room*; give how many did. Raise a connection's refusal, or `AskTimeoutError`."""
        ...

    @property
    def healthy(self) -> bool:
        """Tell whether the other nodes are reachable (always true without a broker)."""
        ...

    @property
    def health(self) -> ExchangeHealth:
        """Give how well the other nodes are reached (`ExchangeHealth.UP` without a broker)."""
        ...

    async def synced(self, timeout: float | None = None) -> bool:
        """Wait until every subscription asked for so far is in effect; False if it is not in time."""
        ...


class LocalExchange:
    """The default exchange: one process, no broker, zero set-up."""

    def __init__(self) -> None:
        self._node: LocalNode | None = None

    async def start(self, node: LocalNode) -> None:
        """Remember *node*."""
        self._node = node

    async def stop(self) -> None:
        """Nothing to release."""

    def subscribe(self, target: Target) -> None:
        """Nothing to subscribe to."""

    def unsubscribe(self, target: Target) -> None:
        """Nothing to unsubscribe from."""

    def publish(self, msg: Message, exclusion: Exclusion) -> None:
        """No other node to forward to."""

    @property
    def congested(self) -> bool:
        """Never: nothing is queued."""
        return False

    async def drain(self) -> None:
        """Nothing to wait for."""

    def close_connection(self, conn_id: str, code: int, reason: str) -> None:
        """No other node to forward to."""

    def _local(self) -> LocalNode:
        if self._node is None:
            raise RuntimeError("exchange used before Server.start()")
        return self._node

    async def ask(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask this process's matching connections."""
        return await self._local().ask_local(msg, exclusion, timeout)

    async def count_connections(self) -> ClusterCount:
        """Count this process's connections (never stale)."""
        return ClusterCount(self._local().total_connections)

    def member_changed(self, event: PresenceEvent) -> None:
        """No other node to tell."""

    async def roster(self, namespace: str) -> Roster:
        """No other node: an empty roster."""
        return Roster()

    async def change_room(
        self, conn_id: str, namespace: str, room: str, *, join: bool, timeout: float
    ) -> int:
        """No other node: none."""
        return 0

    @property
    def healthy(self) -> bool:
        """Always true: there is no broker to lose."""
        return True

    @property
    def health(self) -> ExchangeHealth:
        """Always up."""
        return ExchangeHealth.UP

    async def synced(self, timeout: float | None = None) -> bool:
        """Always in effect: there is nothing to subscribe to."""
        return True
