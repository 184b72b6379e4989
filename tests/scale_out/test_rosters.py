"""`Rosters`, the other nodes' connections as one node knows them: versions, gaps, snapshots in parts."""

from __future__ import annotations

import pytest

from aioneffos.framework import Member, PresenceEvent, Seat
from aioneffos.framework.scaleout.rosters import (
    Rosters,
    decode_change,
    decode_part,
    encode_change,
    encode_parts,
)


class Asked:
    """Records the snapshot requests `Rosters` makes, giving tokens t1, t2, ..."""

    def __init__(self) -> None:
        self.nodes: list[str] = []

    def __call__(self, node: str) -> str:
        self.nodes.append(node)
        return f"t{len(self.nodes)}"


def seat(key: str, conn_id: str, *rooms: str, node: str = "n1") -> Seat:
    return Seat(Member(conn_id, node, key), "chat", frozenset(rooms))


def change(joined: bool, key: str, conn_id: str, room: str = "") -> tuple[bool, str, str, str, str]:
    return joined, key, conn_id, "chat", room


def kinds(events: list[PresenceEvent]) -> list[tuple[str, str, str]]:
    return [(e.kind, e.room, e.member.id) for e in events]


def test_changes_in_order_apply_and_tell_their_events() -> None:
    rosters = Rosters(Asked(), retry_after=1.0)
    rosters.seen("n1", 0)

    events = rosters.changed("n1", 1, change(True, "k1", "u1"))
    events += rosters.changed("n1", 2, change(True, "k1", "u1", "lobby"))
    events += rosters.changed("n1", 2, change(True, "k1", "u1", "lobby"))  # a repeat: nothing

    assert kinds(events) == [("join", "", "u1"), ("join", "lobby", "u1")]
    assert rosters.seats("chat") == [seat("k1", "u1", "lobby")]


def test_a_gap_asks_for_a_snapshot_and_the_changes_after_it_still_apply() -> None:
    asked = Asked()
    rosters = Rosters(asked, retry_after=1.0)
    rosters.seen("n1", 0)

    assert rosters.changed("n1", 3, change(True, "k3", "u3")) == []  # 1 and 2 were missed
    assert rosters.changed("n1", 4, change(True, "k4", "u4")) == []  # held until the snapshot
    assert (asked.nodes, rosters.awaited) == (["n1"], ["n1"])
    part = encode_parts([seat("k1", "u1"), seat("k3", "u3")], 1000)[0]
    index, total, seats = decode_part(part, "n1")
    events = rosters.part("n1", "t1", 3, index, total, seats)

    assert kinds(events) == [("join", "", "u1"), ("join", "", "u3"), ("join", "", "u4")]
    assert (rosters.awaited, rosters.version("n1")) == ([], 4)


def test_a_beat_with_another_version_asks_once_until_the_retry_time() -> None:
    asked = Asked()
    rosters = Rosters(asked, retry_after=60.0)

    rosters.seen("n1", 5)
    rosters.seen("n1", 6)

    assert asked.nodes == ["n1"]


def test_a_snapshot_in_parts_applies_once_all_parts_are_there_and_tells_the_difference() -> None:
    rosters = Rosters(Asked(), retry_after=1.0)
    rosters.seen("n1", 0)
    rosters.changed("n1", 1, change(True, "k1", "u1"))
    rosters.changed("n1", 2, change(True, "k1", "u1", "old"))
    rosters.seen("n1", 9)
    new = [seat(f"k{i}", f"u{i}", "new") for i in range(1, 40)]
    parts = [decode_part(body, "n1") for body in encode_parts(new, 300)]

    first = rosters.part("n1", "t1", 9, *parts[0])
    events = [event for part in parts[1:] for event in rosters.part("n1", "t1", 9, *part)]

    assert (first, len(parts) > 2) == ([], True)
    assert kinds(events)[:2] == [("leave", "old", "u1"), ("join", "new", "u1")]
    assert len(rosters.seats("chat")) == 39


def test_an_answer_to_an_older_request_is_ignored() -> None:
    rosters = Rosters(Asked(), retry_after=0.0)
    rosters.seen("n1", 3)
    rosters.seen("n1", 4)  # retry_after 0: asked again, token t2

    assert rosters.part("n1", "t1", 3, 0, 1, [seat("k1", "u1")]) == []
    assert rosters.seats("chat") == []


def test_forgetting_a_node_tells_the_leaves_of_its_rooms_then_namespaces() -> None:
    rosters = Rosters(Asked(), retry_after=1.0)
    rosters.seen("n1", 0)
    rosters.changed("n1", 1, change(True, "k1", "u1"))
    rosters.changed("n1", 2, change(True, "k1", "u1", "lobby"))

    assert kinds(rosters.forget("n1")) == [("leave", "lobby", "u1"), ("leave", "", "u1")]
    assert (rosters.seats("chat"), rosters.version("n1"), rosters.nodes_with("u1", "chat")) == (
        [],
        None,
        set(),
    )


def test_changes_and_parts_round_trip_and_bad_ones_are_refused() -> None:
    event = PresenceEvent("join", "chat", "lobby", Member("u1", "n1", "k1"))

    assert decode_change(encode_change(event)) == (True, "k1", "u1", "chat", "lobby")
    with pytest.raises(ValueError, match="string fields"):
        decode_change(b'{"j":1,"k":1}')
    with pytest.raises(ValueError, match="JSON object with seats"):
        decode_part(b"[]", "n1")
    with pytest.raises(ValueError, match="holds strings"):
        decode_part(b'{"p":0,"of":1,"seats":[["k",1,"ns",[]]]}', "n1")
