"""`Rosters`: what one node knows of every other node's connections, kept current.

Each node numbers the changes of its own roster (a connection joined or left a namespace
or a room): version 1, 2, ... It publishes each change with its new version, and says
its current version in every ``hello`` and ``beat``. A receiver applies a change whose
version follows the one it has; on a gap, or a beat naming another version, it asks that
node for its whole roster (a snapshot, in parts that fit the broker) and keeps the
changes that arrive meanwhile, to apply the newer ones after it. So a missed change (a
broker restart, a node that was cut off) is repaired within one beat interval, and a
node forgotten for its silence takes its connections with it
(docs/protocol.md#cluster-presence).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Literal

from ..presence import Member, PresenceEvent, Seat

MAX_BUFFERED = 10_000
"""Changes kept per node while its snapshot is awaited; past it they are dropped and a new
snapshot is asked for once the current one has come."""

Change = tuple[bool, str, str, str, str]
"""A roster change: (joined, key, id, namespace, room); room ``""`` for the namespace."""


def encode_change(event: PresenceEvent) -> bytes:
    """Give the body of a ``member`` envelope for *event*."""
    member = event.member
    data = {"j": int(event.joined), "k": member.key, "i": member.id, "ns": event.namespace, "r": event.room}
    return json.dumps(data, separators=(",", ":")).encode()


def decode_change(body: bytes) -> Change:
    """Read the body of a ``member`` envelope; raise `ValueError` when it is not one."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("a roster change is a JSON object")
    key, conn_id, namespace, room = (data.get("k"), data.get("i"), data.get("ns", ""), data.get("r", ""))
    if not (
        isinstance(key, str)
        and isinstance(conn_id, str)
        and isinstance(namespace, str)
        and isinstance(room, str)
    ):
        raise ValueError("a roster change has string fields k, i, ns, r")
    return bool(data.get("j")), key, conn_id, namespace, room


def encode_parts(seats: Iterable[Seat], budget: int) -> list[bytes]:
    """Give the bodies of a snapshot of *seats*, each at most about *budget* bytes:
    ``{"p": index, "of": parts, "seats": [[key, id, namespace, [rooms]], ...]}``."""
    entries = [
        json.dumps([s.member.key, s.member.id, s.namespace, sorted(s.rooms)], separators=(",", ":"))
        for s in seats
    ]
    chunks: list[list[str]] = [[]]
    size = 0
    for entry in entries:
        if chunks[-1] and size + len(entry) + 1 > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(entry)
        size += len(entry) + 1
    total = len(chunks)
    return [
        f'{{"p":{i},"of":{total},"seats":[{",".join(chunk)}]}}'.encode() for i, chunk in enumerate(chunks)
    ]


def decode_part(body: bytes, node: str) -> tuple[int, int, list[Seat]]:
    """Read one snapshot part from *node*: its index, the number of parts, its seats; raise
    `ValueError` when it is not one."""
    data = json.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("seats"), list):
        raise ValueError("a roster part is a JSON object with seats")
    index, total = data.get("p"), data.get("of")
    if not (isinstance(index, int) and isinstance(total, int)):
        raise ValueError("a roster part has integers p and of")
    seats = []
    for entry in data["seats"]:
        if not (isinstance(entry, list) and len(entry) == 4 and isinstance(entry[3], list)):
            raise ValueError("a roster entry is [key, id, namespace, [rooms]]")
        key, conn_id, namespace, rooms = entry
        if not all(isinstance(v, str) for v in (key, conn_id, namespace, *rooms)):
            raise ValueError("a roster entry holds strings")
        seats.append(Seat(Member(conn_id, node, key), namespace, frozenset(rooms)))
    return index, total, seats


class NodeRoster:
    """One other node's connections as this node knows them."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.version = -1
        """The version applied; -1 until the first snapshot (or a version 0 node)."""
        self.seats: dict[tuple[str, str], Seat] = {}
        """By (connection key, namespace)."""
        self.token = ""
        """The token of the snapshot asked for, while one is awaited."""
        self.asked_at = 0.0
        self.parts: dict[int, list[Seat]] = {}
        self.buffered: list[tuple[int, Change]] = []

    @property
    def awaited(self) -> bool:
        """Tell whether a snapshot of this node is awaited."""
        return bool(self.token)


class Rosters:
    """Every other node's roster; *ask(node)* sends a snapshot request and gives its token."""

    def __init__(self, ask: Callable[[str], str], retry_after: float) -> None:
        self._ask = ask
        self.retry_after = retry_after
        """Seconds after which an unanswered snapshot request is made again."""
        self._nodes: dict[str, NodeRoster] = {}

    # -- reading ----------------------------------------------------------------

    @property
    def awaited(self) -> list[str]:
        """Give the nodes whose snapshot is awaited (their rosters may be late)."""
        return [node for node, roster in self._nodes.items() if roster.awaited]

    def seats(self, namespace: str) -> list[Seat]:
        """Give the other nodes' seats in *namespace*."""
        return [
            seat
            for roster in self._nodes.values()
            for seat in roster.seats.values()
            if seat.namespace == namespace
        ]

    def nodes_with(self, conn_id: str, namespace: str) -> set[str]:
        """Give the other nodes known to have a connection *conn_id* in *namespace*."""
        return {
            roster.node
            for roster in self._nodes.values()
            for seat in roster.seats.values()
            if seat.member.id == conn_id and seat.namespace == namespace
        }

    def reach(self, namespace: str, room: str = "", conn_id: str = "") -> bool:
        """Tell whether another node is known to have a recipient of a message to *namespace*
        (limited to *room* and to *conn_id* when given)."""
        return any(
            seat.namespace == namespace
            and (not room or room in seat.rooms)
            and (not conn_id or seat.member.id == conn_id)
            for roster in self._nodes.values()
            for seat in roster.seats.values()
        )

    def knows(self, conn_id: str) -> bool:
        """Tell whether another node is known to have a connection with id *conn_id*."""
        return any(
            seat.member.id == conn_id for roster in self._nodes.values() for seat in roster.seats.values()
        )

    def version(self, node: str) -> int | None:
        """Give the version of *node*'s roster applied here (None: unknown node)."""
        roster = self._nodes.get(node)
        return None if roster is None else roster.version

    # -- what arrives -------------------------------------------------------------

    def _roster(self, node: str) -> NodeRoster:
        roster = self._nodes.get(node)
        if roster is None:
            roster = self._nodes[node] = NodeRoster(node)
        return roster

    def _request(self, roster: NodeRoster) -> None:
        roster.token = self._ask(roster.node)
        roster.asked_at = time.monotonic()
        roster.parts = {}

    def seen(self, node: str, version: int) -> None:
        """*node* says its roster is at *version* (hello, beat): ask for it if this one differs."""
        roster = self._roster(node)
        if roster.version == version:
            return
        if roster.version < 0 and version == 0:
            roster.version = 0  # a node that has had no connection yet: nothing to fetch
            return
        if not roster.awaited or time.monotonic() - roster.asked_at > self.retry_after:
            self._request(roster)

    def changed(self, node: str, version: int, change: Change) -> list[PresenceEvent]:
        """*node* reports *change* as its *version*: give the events it makes here."""
        roster = self._roster(node)
        if roster.awaited:
            if len(roster.buffered) < MAX_BUFFERED:
                roster.buffered.append((version, change))
            return []
        if version <= roster.version:
            return []  # already in a snapshot
        if version != roster.version + 1:
            roster.buffered = [(version, change)]
            self._request(roster)
            return []
        roster.version = version
        return self._apply(roster, change)

    def part(
        self, node: str, token: str, version: int, index: int, total: int, seats: list[Seat]
    ) -> list[PresenceEvent]:
        """A part of a snapshot of *node* arrived: once all are here, apply it; give the events."""
        roster = self._nodes.get(node)
        if roster is None or token != roster.token or not 0 <= index < total:
            return []  # an answer to an older request, or a node forgotten meanwhile
        roster.parts[index] = seats
        if len(roster.parts) < total:
            return []
        new = {(s.member.key, s.namespace): s for part in roster.parts.values() for s in part}
        roster.token, roster.parts = "", {}
        events = _diff(node, roster.seats, new) if version >= roster.version else []
        if version >= roster.version:
            roster.seats, roster.version = new, version
        buffered, roster.buffered = roster.buffered, []
        for later, change in sorted(buffered, key=lambda item: item[0]):
            events += self.changed(node, later, change)
        return events

    def forget(self, node: str) -> list[PresenceEvent]:
        """*node* left or went silent: give the leave events of its connections."""
        roster = self._nodes.pop(node, None)
        return _diff(node, roster.seats, {}) if roster is not None else []

    @staticmethod
    def _apply(roster: NodeRoster, change: Change) -> list[PresenceEvent]:
        joined, key, conn_id, namespace, room = change
        member = Member(conn_id, roster.node, key)
        seat = roster.seats.get((key, namespace))
        kind: Literal["join", "leave"] = "join" if joined else "leave"
        if not room:
            if joined == (seat is not None):
                return []
            if joined:
                roster.seats[(key, namespace)] = Seat(member, namespace)
            else:
                del roster.seats[(key, namespace)]
            return [PresenceEvent(kind, namespace, "", member)]
        if seat is None or joined == (room in seat.rooms):
            return []
        rooms = seat.rooms | {room} if joined else seat.rooms - {room}
        roster.seats[(key, namespace)] = Seat(member, namespace, rooms)
        return [PresenceEvent(kind, namespace, room, member)]


def _diff(
    node: str, old: dict[tuple[str, str], Seat], new: dict[tuple[str, str], Seat]
) -> list[PresenceEvent]:
    """Give the events that turn *old* seats into *new* ones: leaves first, rooms before their namespace."""
    events: list[PresenceEvent] = []
    for where, seat in old.items():
        now = new.get(where)
        gone = seat.rooms - (now.rooms if now is not None else frozenset())
        events += [PresenceEvent("leave", seat.namespace, room, seat.member) for room in sorted(gone)]
        if now is None:
            events.append(PresenceEvent("leave", seat.namespace, "", seat.member))
    for where, seat in new.items():
        before = old.get(where)
        if before is None:
            events.append(PresenceEvent("join", seat.namespace, "", seat.member))
        came = seat.rooms - (before.rooms if before is not None else frozenset())
        events += [PresenceEvent("join", seat.namespace, room, seat.member) for room in sorted(came)]
    return events
