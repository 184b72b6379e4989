"""Cluster presence: who is connected where, per namespace and per room, and what changes.

A `Server` knows its own connections; with a scale-out exchange every node also keeps a
copy of every other node's (its roster), kept current by the changes each node publishes
and by snapshots when a change was missed (docs/protocol.md#cluster-presence). Values:
`Member` (a connection and its node), `Seat` (a member's namespace and rooms),
`PresenceEvent` (a join or leave, for listeners), `Presence` (the answer to
`Server.presence`) and `Roster` (what an exchange knows of the other nodes).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Literal, Protocol

import attrs

logger = logging.getLogger("aioneffos.server")


@attrs.frozen
class Member:
    """One connection of the cluster: its id, the node that serves it, and its cluster-wide key."""

    id: str
    node: str
    key: str = attrs.field(default="", repr=False)
    """Unique per connection across the cluster (ids may repeat)."""


@attrs.frozen
class Seat:
    """A connection's membership of one namespace: who, and which of its rooms it has joined."""

    member: Member
    namespace: str
    rooms: frozenset[str] = frozenset()


@attrs.frozen
class PresenceEvent:
    """A connection joined or left a namespace (*room* empty) or one of its rooms, on some node."""

    kind: Literal["join", "leave"]
    namespace: str
    room: str
    """The room, or ``""`` for the namespace itself."""
    member: Member

    @property
    def joined(self) -> bool:
        """Tell whether this is a join."""
        return self.kind == "join"


PresenceListener = Callable[[PresenceEvent], Awaitable[None] | None]
"""Told every `PresenceEvent` of the cluster, this node's included (it must not block;
a coroutine function runs as a task)."""


@attrs.frozen
class Roster:
    """What an exchange knows of the other nodes' connections to one namespace."""

    seats: tuple[Seat, ...] = ()
    stale: bool = False
    """Part of it may be out of date: this node's broker link is down, or a node's roster is
    being fetched again after a missed change."""


@attrs.frozen
class Presence:
    """The connections of a namespace (or of one of its rooms) across the cluster.

    Iterate it for the `Member` values; ``len()`` counts them. `rooms` counts the members
    of each room of the namespace (of the one room, when asked for a room).
    """

    namespace: str
    room: str | None
    members: tuple[Member, ...]
    rooms: Mapping[str, int]
    stale: bool = False
    """See `Roster.stale`: the answer came from what this node knew, which may be late."""

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def ids(self) -> list[str]:
        """Give the connection ids, sorted, each once."""
        return sorted({member.id for member in self.members})

    @classmethod
    def of(cls, namespace: str, room: str | None, seats: Iterable[Seat], *, stale: bool = False) -> Presence:
        """Make the presence of *namespace* (or *room* in it) from *seats* of any namespace."""
        members: list[Member] = []
        rooms: Counter[str] = Counter()
        for seat in seats:
            if seat.namespace != namespace:
                continue
            if room is None:
                members.append(seat.member)
                rooms.update(seat.rooms)
            elif room in seat.rooms:
                members.append(seat.member)
                rooms[room] += 1
        members.sort(key=lambda m: (m.id, m.node, m.key))
        return cls(namespace, room, tuple(members), MappingProxyType(dict(sorted(rooms.items()))), stale)


class NSConnLike(Protocol):
    """What the roster uses of an `NSConn`."""

    namespace: str

    @property
    def rooms(self) -> Mapping[str, object]: ...

    async def join_room(self, room: str, *, timeout: float | None = None) -> object: ...

    async def leave_room(self, room: str, *, timeout: float | None = None) -> None: ...


class ConnLike(Protocol):
    """What the roster uses of a `Conn`."""

    id: str
    key: str

    @property
    def namespaces(self) -> Mapping[str, NSConnLike]: ...


class Forwarder(Protocol):
    """Where the roster sends this node's changes (the server's exchange)."""

    def member_changed(self, event: PresenceEvent) -> None: ...


class LocalRoster:
    """This node's part of cluster presence: its seats, its listeners, and room changes by id.

    The server tells it every namespace and room change of its connections (`changed`);
    it tells the exchange (which forwards it to the other nodes) and the listeners. The
    exchange tells it the other nodes' changes (`heard`), and asks it for this node's seats
    (`seats`) and for room changes of connections by id (`join_local`, `leave_local`).
    """

    def __init__(
        self,
        node_id: str,
        connections: Callable[[], Iterable[ConnLike]],
        with_id: Callable[[str], Iterable[ConnLike]],
        forwarder: Callable[[], Forwarder],
    ) -> None:
        self.node_id = node_id
        self._connections = connections
        self._with_id = with_id
        self._forwarder = forwarder
        self._listeners: list[PresenceListener] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def add_listener(self, listener: PresenceListener) -> None:
        """Tell *listener* every presence event of the cluster from now on."""
        self._listeners.append(listener)

    def member(self, conn: ConnLike) -> Member:
        """Give the `Member` of a connection of this node."""
        return Member(conn.id, self.node_id, conn.key)

    def changed(self, kind: Literal["join", "leave"], conn: ConnLike, namespace: str, room: str = "") -> None:
        """A connection of this node joined or left *namespace* (or its *room*): tell everyone."""
        event = PresenceEvent(kind, namespace, room, self.member(conn))
        self._forwarder().member_changed(event)
        self.heard(event)

    def heard(self, event: PresenceEvent) -> None:
        """Tell the listeners *event* (of this node or, through the exchange, another)."""
        for listener in list(self._listeners):
            try:
                result = listener(event)
            except Exception:
                logger.exception("presence listener %r failed", listener)
                continue
            if inspect.isawaitable(result):
                task = asyncio.get_running_loop().create_task(self._run(listener, result))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(listener: PresenceListener, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            logger.exception("presence listener %r failed", listener)

    def seats(self) -> list[Seat]:
        """Give every namespace membership of this node's connections."""
        return [
            Seat(self.member(conn), name, frozenset(ns.rooms))
            for conn in self._connections()
            for name, ns in conn.namespaces.items()
        ]

    async def join_local(self, conn_id: str, namespace: str, room: str, timeout: float | None = None) -> int:
        """Make this node's connections with id *conn_id* in *namespace* join *room*; give how many
        (also those already in it). A connection's refusal (its ``_OnRoomJoin``) is raised."""
        count = 0
        for conn in list(self._with_id(conn_id)):
            ns = conn.namespaces.get(namespace)
            if ns is not None:
                await ns.join_room(room, timeout=timeout)
                count += 1
        return count

    async def leave_local(self, conn_id: str, namespace: str, room: str, timeout: float | None = None) -> int:
        """Make this node's connections with id *conn_id* in *namespace* leave *room*; give how many
        were in it."""
        count = 0
        for conn in list(self._with_id(conn_id)):
            ns = conn.namespaces.get(namespace)
            if ns is not None and room in ns.rooms:
                await ns.leave_room(room, timeout=timeout)
                count += 1
        return count
