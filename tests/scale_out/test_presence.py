"""Cluster presence in one process: several `Server` nodes on a `MemoryBroker`, real clients.

Who is connected where (per namespace, per room), join and leave events on every node,
room changes of a connection by id wherever it is, and a presence that is repaired after
a node is cut off, a broker restart, or a missed change; plus the same API on one node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aioneffos.framework import (
    Message,
    NoRecipientError,
    NSConn,
    PresenceEvent,
    RemoteError,
    Server,
    dial,
)
from aioneffos.framework.scaleout import MemoryBroker
from tests.scale_out.inprocess import (  # noqa: F401 (fixtures)
    TIMEOUT,
    Connect,
    InNode,
    LogWatch,
    Serve,
    broker_fixture,
    connect_fixture,
    start_node_fixture,
    wait,
    watch_log_fixture,
)


class Events:
    """The presence events one node's listeners hear, with a wait for a given one."""

    def __init__(self, node: InNode) -> None:
        self.seen: list[tuple[str, str, str, str]] = []
        self._changed = asyncio.Condition()
        node.server.add_presence_listener(self._hear)

    async def _hear(self, event: PresenceEvent) -> None:
        async with self._changed:
            self.seen.append((event.kind, event.room, event.member.id, event.member.node))
            self._changed.notify_all()

    async def wait(self, *expected: tuple[str, str, str, str]) -> None:
        """Wait until every *expected* (kind, room, id, node) has been heard."""
        async with asyncio.timeout(TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: all(e in self.seen for e in expected))


async def cluster(start_node: Callable[..., Awaitable[InNode]], count: int, **options: Any) -> list[InNode]:
    made = [await start_node(**options) for _ in range(count)]
    for node in made:
        assert await node.exchange.wait_peers(count - 1, TIMEOUT)
    return made


async def test_presence_lists_every_nodes_connections_per_namespace_and_room(
    start_node: Callable[..., Awaitable[InNode]], connect: Connect
) -> None:
    a, b = await cluster(start_node, 2)
    heard = Events(a)
    u1, u2 = await connect(a, "u1"), await connect(b, "u2")
    await connect(b, "u3")
    await u1.ns.join_room("lobby")
    await u2.ns.join_room("lobby")
    b_id = b.server.node_id
    await heard.wait(("join", "", "u3", b_id), ("join", "lobby", "u2", b_id))

    everyone = await a.server.presence("chat")
    lobby = await a.server.presence("chat", "lobby")
    from_b = await b.server.presence("chat", "lobby")

    assert [(m.id, m.node) for m in everyone] == [("u1", a.server.node_id), ("u2", b_id), ("u3", b_id)]
    assert (dict(everyone.rooms), everyone.stale, len(everyone)) == ({"lobby": 2}, False, 3)
    assert (lobby.ids, dict(lobby.rooms), from_b.ids) == (["u1", "u2"], {"lobby": 2}, ["u1", "u2"])
    assert (await a.server.presence("other")).ids == []


async def test_every_node_hears_joins_and_leaves_of_namespaces_and_rooms_in_order(
    start_node: Callable[..., Awaitable[InNode]], connect: Connect
) -> None:
    a, b = await cluster(start_node, 2)
    heard_a, heard_b = Events(a), Events(b)
    client = await connect(b, "u2")
    await client.ns.join_room("lobby")
    await client.ns.leave_room("lobby")
    await client.ns.disconnect()
    b_id = b.server.node_id
    await heard_a.wait(("leave", "", "u2", b_id))

    expected = [("join", "", "u2", b_id), ("join", "lobby", "u2", b_id), ("leave", "lobby", "u2", b_id)]
    expected.append(("leave", "", "u2", b_id))
    assert heard_a.seen == expected
    assert heard_b.seen == expected  # the node's own connections too


async def test_join_room_and_leave_room_by_id_reach_a_connection_on_another_node(
    start_node: Callable[..., Awaitable[InNode]], connect: Connect
) -> None:
    a, b = await cluster(start_node, 2)
    heard = Events(a)
    target = await connect(b, "u2")
    await connect(a, "u1")
    await heard.wait(("join", "", "u2", b.server.node_id))

    joined = await a.server.join_room("u2", "chat", "vip")
    assert target.ns.room("vip") is not None  # the client itself joined (server-initiated)
    a.server.broadcast(Message("chat", "news", b"vip only", room="vip"))
    assert (await target.next("news")).room == "vip"
    left = await a.server.leave_room("u2", "chat", "vip")
    left_again = await a.server.leave_room("u2", "chat", "vip")

    assert (joined, left, left_again, target.ns.room("vip")) == (1, 1, 0, None)
    with pytest.raises(NoRecipientError, match="no connection 'ghost' in namespace 'chat' on any node"):
        await a.server.join_room("ghost", "chat", "vip")


async def test_join_room_by_id_raises_the_clients_refusal(
    start_node: Callable[..., Awaitable[InNode]], serve: Serve
) -> None:
    a, b = await cluster(start_node, 2)
    heard = Events(a)

    def refuse_room(ns: NSConn, msg: Message) -> None:
        raise PermissionError(f"not {msg.room}")

    conn = await dial(b.url, {"chat": {"_OnRoomJoin": refuse_room}}, headers={"X-User": "u2"})
    try:
        await conn.connect("chat")
        await heard.wait(("join", "", "u2", b.server.node_id))
        with pytest.raises(RemoteError, match="not vip"):
            await a.server.join_room("u2", "chat", "vip")
    finally:
        await conn.close()


async def test_a_node_cut_off_takes_its_connections_out_of_presence_with_leave_events(
    start_node: Callable[..., Awaitable[InNode]],
    connect: Connect,
    broker: MemoryBroker,
    watch_log: Callable[[str], LogWatch],
) -> None:
    a, b, c = await cluster(start_node, 3, beat_interval=0.1)
    heard = Events(a)
    await connect(b, "u2")
    gone = await connect(c, "u3")
    await gone.ns.join_room("lobby")
    c_id = c.server.node_id
    await heard.wait(("join", "lobby", "u3", c_id))

    broker.partition(c_id)
    await heard.wait(("leave", "", "u3", c_id))

    assert (await a.server.presence("chat")).ids == ["u2"]
    assert heard.seen[-2:] == [("leave", "lobby", "u3", c_id), ("leave", "", "u3", c_id)]


async def test_presence_is_repaired_after_a_broker_restart(
    start_node: Callable[..., Awaitable[InNode]], connect: Connect, broker: MemoryBroker
) -> None:
    a, b = await cluster(start_node, 2, beat_interval=0.1)
    heard = Events(a)
    leaving = await connect(b, "u2")
    await heard.wait(("join", "", "u2", b.server.node_id))

    broker.stop()
    assert [await wait(node.health.get()) for node in (a, b)] == [True, True]  # the first "up"
    assert [await wait(node.health.get()) for node in (a, b)] == [False, False]
    await connect(b, "u9", synced=False)
    await leaving.ns.disconnect()
    during = await a.server.presence("chat")
    broker.start()
    await heard.wait(("join", "", "u9", b.server.node_id), ("leave", "", "u2", b.server.node_id))

    assert (during.ids, during.stale) == (["u2"], True)
    after = await a.server.presence("chat")
    assert (after.ids, after.stale) == (["u9"], False)


async def test_a_missed_change_is_repaired_from_a_snapshot_in_parts(
    start_node: Callable[..., Awaitable[InNode]], connect: Connect, broker: MemoryBroker
) -> None:
    a, b = await cluster(start_node, 2, beat_interval=0.1, max_payload=2048)  # parts of ~1 KiB
    heard = Events(a)
    users = [f"user-{i:02}" for i in range(30)]
    for user in users[:-1]:
        await connect(b, user)
    await heard.wait(("join", "", users[-2], b.server.node_id))
    # A change of b's roster that a never hears (as if the broker had lost it): a notices the
    # gap at b's next change or beat, and fetches b's whole roster.
    b.exchange._roster.version += 5  # fault injection: five changes a never hears
    await connect(b, users[-1])
    await heard.wait(("join", "", users[-1], b.server.node_id))

    assert (await a.server.presence("chat")).ids == users


async def test_on_one_node_presence_and_room_changes_use_local_state(serve: Serve) -> None:
    server = Server({"chat": {}}, id_generator=lambda request: request.headers["X-User"])
    heard: list[PresenceEvent] = []
    server.add_presence_listener(heard.append)
    url = await serve(server)
    conn = await dial(url, {"chat": {}}, headers={"X-User": "solo"})
    try:
        ns = await conn.connect("chat")
        joined = await server.join_room("solo", "chat", "lobby")
        presence = await server.presence("chat", "lobby")
        assert (joined, presence.ids, dict(presence.rooms), presence.stale) == (
            1,
            ["solo"],
            {"lobby": 1},
            False,
        )
        assert ns.room("lobby") is not None
        assert [(e.kind, e.room, e.member.node) for e in heard] == [
            ("join", "", server.node_id),
            ("join", "lobby", server.node_id),
        ]
    finally:
        await conn.close()
