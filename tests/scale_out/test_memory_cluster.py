"""The cluster logic in one process: several `Server` nodes on one `MemoryBroker`.

No Redis or NATS: the broker behaves like Redis (echo, receiver counts) or like NATS (no
echo, only "nobody got it"), and faults come from calling it. Clients are real websocket
clients over loopback. What crosses nodes: broadcasts with exclusion, ``to=`` sends,
rooms, asks (replies, typed errors, no recipient, late replies), forced closes, counts,
presence, echoes, unreadable envelopes, and broker loss.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aioneffos.framework import (
    AskTimeoutError,
    Message,
    NoRecipientError,
    NSConn,
    RemoteError,
    Server,
    Target,
)
from aioneffos.framework.scaleout import MemoryBroker
from aioneffos.framework.scaleout.envelope import Envelope, EnvelopeKind, encode
from tests.scale_out.inprocess import (  # noqa: F401 (fixtures)
    TIMEOUT,
    Client,
    Connect,
    InNode,
    LogWatch,
    Serve,
    answer,
    broker_fixture,
    connect_fixture,
    nodes_fixture,
    refuse,
    start_node_fixture,
    user_id,
    wait,
    watch_log_fixture,
)


async def test_broadcast_reaches_each_client_once_and_skips_the_excluded_connection(
    nodes: list[InNode], connect: Connect
) -> None:
    a, b = nodes
    a1, a2, b1 = await connect(a, "u1"), await connect(a, "u2"), await connect(b, "u1")
    sender = a.server.connection("u2")

    a.server.broadcast(Message("chat", "news", b"x"), exclude=sender)
    assert [(await a1.next("news")).body, (await b1.next("news")).body] == [b"x", b"x"]
    # Anything of node a's own still in the broker (an echo) reaches node a before this.
    b.server.broadcast(Message("chat", "news", b"marker"))

    assert [(await a1.next("news")).body, (await a2.next("news")).body] == [b"marker", b"marker"]
    assert (a1.pending("news"), a2.pending("news")) == (0, 0)


async def test_exclusion_by_id_and_to_by_id_hold_on_every_node(nodes: list[InNode], connect: Connect) -> None:
    a, b = nodes
    a1, b1, b2 = await connect(a, "u1"), await connect(b, "u1"), await connect(b, "u2")

    a.server.broadcast(Message("chat", "news", b"not u1"), exclude="u1")
    b.server.broadcast(Message("chat", "news", b"for u1", to="u1"))

    assert (await b2.next("news")).body == b"not u1"
    assert [(await a1.next("news")).body, (await b1.next("news")).body] == [b"for u1", b"for u1"]
    assert (a1.pending("news"), b1.pending("news"), b2.pending("news")) == (0, 0, 0)


async def test_nodes_subscribe_only_what_they_have_recipients_for(
    nodes: list[InNode], connect: Connect, broker: MemoryBroker
) -> None:
    a, b = nodes
    a1 = await connect(a, "u1")
    await connect(b, "u2")
    channels = a.exchange.channels
    room = channels.name(Target.of_room("chat", "lobby"))
    namespace = channels.name(Target.of_namespace("chat"))

    await a1.ns.join_room("lobby")
    assert await a.exchange.synced(TIMEOUT)
    joined = (broker.subscribers(room), broker.subscribers(namespace))
    await a1.ns.leave_room("lobby")
    await a1.ns.disconnect()
    assert await a.exchange.synced(TIMEOUT)

    assert (joined, broker.subscribers(room), broker.subscribers(namespace)) == ((1, 2), 0, 1)
    assert broker.subscribers(channels.name(Target.of_conn("u1"))) == 1  # still connected as u1


async def test_ask_is_answered_across_nodes_and_an_error_reply_is_typed(
    nodes: list[InNode], connect: Connect
) -> None:
    a, b = nodes
    await connect(b, "u2", poke=answer, refuse=refuse)

    reply = await a.server.ask(Message("chat", "poke", b"?", to="u2"), timeout=TIMEOUT)
    with pytest.raises(RemoteError) as caught:
        await a.server.ask(Message("chat", "refuse", to="u2"), timeout=TIMEOUT)

    assert (reply.body, caught.value.text) == (b"answer from u2", "not now")


async def test_ask_to_an_id_no_node_has_fails_at_once(nodes: list[InNode], connect: Connect) -> None:
    a, b = nodes
    await connect(b, "u2", poke=answer)

    with pytest.raises(NoRecipientError):
        await a.server.ask(Message("chat", "poke", to="ghost"), timeout=TIMEOUT)


async def test_ask_no_node_can_deliver_fails_at_once_only_when_the_broker_counts(
    nodes: list[InNode], connect: Connect, broker: MemoryBroker
) -> None:
    a, b = nodes
    await connect(b, "u2", poke=answer)

    # Node b gets the ask (u2 is there) but u2 has not connected namespace "other".
    if broker.counts:
        with pytest.raises(NoRecipientError):
            await a.server.ask(Message("other", "poke", to="u2"), timeout=TIMEOUT)
    else:
        with pytest.raises(AskTimeoutError):
            await a.server.ask(Message("other", "poke", to="u2"), timeout=0.3)


async def test_late_local_reply_after_a_remote_answer_is_not_dispatched(
    start_node: Callable[..., Awaitable[InNode]], connect: Connect
) -> None:
    dispatched: list[Message] = []
    marker, release = asyncio.Event(), asyncio.Event()
    events = {"poke": lambda ns, msg: dispatched.append(msg), "marker": lambda ns, msg: marker.set()}
    a, b = await start_node(events), await start_node()
    assert await a.exchange.wait_peers(1, TIMEOUT)

    async def slow(ns: NSConn, msg: Message) -> None:
        await release.wait()
        ns.conn.reply(msg, b"late")
        ns.emit("marker")  # handled by the server after the late reply

    await connect(a, "local", poke=slow)
    await connect(b, "remote", poke=answer)

    reply = await a.server.ask(Message("chat", "poke", b"?"), timeout=TIMEOUT)
    release.set()
    await wait(marker.wait())

    assert (reply.body, dispatched) == (b"answer from remote", [])


async def test_close_connection_closes_that_id_on_every_node(nodes: list[InNode], connect: Connect) -> None:
    a, b = nodes
    a1, b1, b2 = await connect(a, "u1"), await connect(b, "u1"), await connect(b, "u2")

    a.server.close_connection("u1", code=4000, reason="bye")

    await wait(asyncio.gather(a1.conn.wait_closed(), b1.conn.wait_closed()))
    assert (a1.conn.close_code, b1.conn.close_code, b2.conn.is_closed) == (4000, 4000, False)


async def test_cluster_count_asks_every_node_and_uses_last_known_counts_while_cut_off(
    nodes: list[InNode], connect: Connect, broker: MemoryBroker
) -> None:
    a, b = nodes
    await connect(a, "u1")
    for user in ("u2", "u3"):
        await connect(b, user)
    # Counting also tells node b node a's count, which it keeps as the last known one.
    counted = [await a.server.cluster_total_connections(), await b.server.cluster_total_connections()]

    broker.partition(b.server.node_id)
    assert await wait(b.health.get()) is False
    await connect(b, "u4", synced=False)

    assert (counted, await b.server.cluster_total_connections()) == ([3, 3], 4)


async def test_presence_tells_joins_goodbyes_and_silence(
    start_node: Callable[..., Awaitable[InNode]],
    broker: MemoryBroker,
    watch_log: Callable[[str], LogWatch],
) -> None:
    a = await start_node(beat_interval=0.05)
    b, c = await start_node(beat_interval=0.05), await start_node(beat_interval=0.05)
    assert await a.exchange.wait_peers(2, TIMEOUT)
    left = watch_log(rf"node {b.server.node_id} left")
    silent = watch_log(rf"node {c.server.node_id} went silent")

    await b.server.close()
    await wait(left.seen.wait())
    broker.partition(c.server.node_id)
    await wait(silent.seen.wait())

    assert list(a.exchange.peers) == []


async def test_unreadable_bus_messages_are_logged_once_per_version_and_skipped(
    nodes: list[InNode], connect: Connect, broker: MemoryBroker, caplog: pytest.LogCaptureFixture
) -> None:
    _, b = nodes
    b2 = await connect(b, "u2")
    channel = b.exchange.channels.name(Target.of_namespace("chat"))
    caplog.set_level(logging.WARNING, "aioneffos.exchange")
    valid = encode(Envelope(EnvelopeKind.PUBLISH, "other-node", Message("chat", "news", b"still fine")))

    for payload in [b'\x07{"k":"pub"}\nfrom the future', b"\x07again", b"\x01not json\n", valid]:
        broker.publish(channel, payload)

    assert (await b2.next("news")).body == b"still fine"
    assert [r.getMessage() for r in caplog.records] == [
        "skipped a bus message: envelope version 7, expected 1",
        "skipped a bus message: envelope header is not JSON: Expecting value: line 1 column 1 (char 0)",
    ]


async def test_broker_loss_keeps_local_delivery_and_its_return_restores_the_cluster(
    nodes: list[InNode], connect: Connect, broker: MemoryBroker
) -> None:
    a, b = nodes
    knows_u2 = asyncio.Event()
    a.server.add_presence_listener(lambda event: knows_u2.set() if event.member.id == "u2" else None)
    a1, b1 = await connect(a, "u1"), await connect(b, "u2")
    await wait(knows_u2.wait())  # counted as dropped below because node a knows u2 would have had it

    broker.stop()
    assert [await wait(node.health.get()) for node in nodes] == [False, False]
    a.server.broadcast(Message("chat", "news", b"local only"))
    assert (await a1.next("news")).body == b"local only"
    assert a.exchange.dropped == 1
    broker.start()
    assert [await wait(node.health.get()) for node in nodes] == [True, True]
    a.server.broadcast(Message("chat", "news", b"back"))

    assert (await b1.next("news")).body == b"back"
    assert b1.pending("news") == 0


async def test_one_exchange_serves_one_server(nodes: list[InNode]) -> None:
    with pytest.raises(RuntimeError, match="already serves a server"):
        await nodes[0].exchange.start(Server({"chat": {}}))


async def test_a_broadcast_too_large_for_the_broker_raises_and_reaches_no_one(
    start_node: Callable[..., Awaitable[InNode]], connect: Connect
) -> None:
    node_a: InNode | None = None

    def shout(ns: NSConn, msg: Message) -> None:
        assert node_a is not None
        node_a.server.broadcast(Message("chat", "news", msg.body), exclude=ns)

    node_a = a = await start_node({"shout": shout}, max_payload=300)
    b = await start_node()
    assert await a.exchange.wait_peers(1, TIMEOUT)
    a1, a2, b1 = await connect(a, "u1"), await connect(a, "u2"), await connect(b, "u3")

    with pytest.raises(RemoteError) as caught:
        await a1.ns.ask("shout", b"x" * 400, timeout=TIMEOUT)
    await a1.ns.ask("shout", b"small", timeout=TIMEOUT)

    assert re.fullmatch(
        r"a message of \d+ bytes is over the 300-byte limit of broker \S+ \(max_payload\): sent to no one",
        caught.value.text,
    )
    assert [(await a2.next("news")).body, (await b1.next("news")).body] == [b"small", b"small"]
    assert (a.exchange.refused, a.exchange.dropped, a.health.get_nowait(), a.health.empty()) == (
        1,
        0,
        True,
        True,
    )


class Whispers:
    """A ``whisper`` event that sends its body to connection ``u2`` wherever it is, and counts calls."""

    def __init__(self) -> None:
        self.server: Server | None = None
        self.handled = 0
        self.all_handled = asyncio.Event()
        self.expected = 0

    def __call__(self, ns: NSConn, msg: Message) -> None:
        assert self.server is not None
        self.server.broadcast(Message("chat", "news", msg.body, to="u2"))
        self.handled += 1
        if self.handled == self.expected:
            self.all_handled.set()


async def whisper_loop(
    start_node: Callable[..., Awaitable[InNode]],
    connect: Connect,
    broker: MemoryBroker,
    watch_log: Callable[[str], LogWatch],
    count: int,
    **options: Any,
) -> tuple[InNode, list[bytes], Whispers]:
    """Node a holds a fast sender and a slow one; both whisper to u2 on node b while the broker
    stalls; give node a, what u2 received (up to a marker sent once the broker is back) and the handler."""
    whispers = Whispers()
    whispers.expected = count + 1
    a = await start_node({"whisper": whispers}, **options)
    whispers.server = a.server
    b = await start_node()
    assert await a.exchange.wait_peers(1, TIMEOUT)
    fast, slow, target = await connect(a, "fast"), await connect(a, "slow"), await connect(b, "u2")

    degraded = watch_log("DEGRADED")
    broker.hold()
    for i in range(count):
        fast.ns.emit("whisper", b"fast %d" % i)
    slow.ns.emit("whisper", b"slow")
    await wait(degraded.seen.wait())
    if options.get("overflow") == "drop":
        await wait(whispers.all_handled.wait())
    broker.release()
    await wait(whispers.all_handled.wait())
    assert await a.exchange.flushed(TIMEOUT)
    a.server.broadcast(Message("chat", "news", b"marker", to="u2"))
    got = []
    while (body := (await target.next("news")).body) != b"marker":
        got.append(body)
    return a, got, whispers


async def test_backpressure_slows_a_fast_sender_and_drops_no_ones_messages(
    start_node: Callable[..., Awaitable[InNode]],
    connect: Connect,
    broker: MemoryBroker,
    watch_log: Callable[[str], LogWatch],
) -> None:
    a, got, _ = await whisper_loop(
        start_node, connect, broker, watch_log, 200, max_pending=16, max_batch=4, wait_timeout=60
    )

    assert [body for body in got if body.startswith(b"fast")] == [b"fast %d" % i for i in range(200)]
    assert (b"slow" in got, a.exchange.dropped, a.exchange.published) == (True, 0, 202)


async def test_drop_policy_counts_exactly_what_did_not_leave(
    start_node: Callable[..., Awaitable[InNode]],
    connect: Connect,
    broker: MemoryBroker,
    watch_log: Callable[[str], LogWatch],
) -> None:
    a, got, _ = await whisper_loop(
        start_node, connect, broker, watch_log, 200, max_pending=16, max_batch=4, overflow="drop"
    )

    assert a.exchange.dropped > 0
    assert len(got) + a.exchange.dropped == 201
    assert a.exchange.published == len(got) + 1  # and the marker


async def test_a_count_never_waits_for_a_silent_node_and_says_it_is_stale_until_it_is_forgotten(
    start_node: Callable[..., Awaitable[InNode]],
    connect: Connect,
    broker: MemoryBroker,
    watch_log: Callable[[str], LogWatch],
) -> None:
    a, b, c = [await start_node(count_timeout=0.3) for _ in range(3)]
    for node in (a, b, c):
        assert await node.exchange.wait_peers(2, TIMEOUT)
    await connect(a, "u1")
    await connect(b, "u2")
    await connect(c, "u3")
    assert await a.server.cluster_total_connections() == 3  # c's count is now known to a
    silent = watch_log(
        rf"node {a.server.node_id}: node {c.server.node_id} went silent \(no beat for 3 x 1s\)"
    )

    broker.partition(c.server.node_id)
    before = await a.server.cluster_total_connections()
    await wait(silent.seen.wait())
    after = await a.server.cluster_total_connections()

    assert (before, before.stale, before.missing) == (3, True, (c.server.node_id,))
    assert (after, after.stale, after.missing, after.age) == (2, False, (), 0.0)


async def test_while_its_own_link_is_down_a_node_forgets_nobody_and_its_count_is_stale(
    start_node: Callable[..., Awaitable[InNode]],
    connect: Connect,
    broker: MemoryBroker,
    watch_log: Callable[[str], LogWatch],
) -> None:
    a, b = (
        await start_node(beat_interval=0.05, beat_misses=2),
        await start_node(beat_interval=0.05, beat_misses=2),
    )
    assert await a.exchange.wait_peers(1, TIMEOUT)
    assert await b.exchange.wait_peers(1, TIMEOUT)
    await connect(b, "u2")
    await connect(b, "u3")
    assert await a.server.cluster_total_connections() == 2
    forgotten_by_b = watch_log(rf"node {b.server.node_id}: node {a.server.node_id} went silent")
    rejoined = watch_log(rf"node {b.server.node_id}: node {a.server.node_id} joined")

    assert a.health.get_nowait() is True
    broker.partition(a.server.node_id)
    assert await wait(a.health.get()) is False
    await wait(forgotten_by_b.seen.wait())  # b's horizon has passed; a's for b too
    count = await a.server.cluster_total_connections()
    peers = list(a.exchange.peers)
    broker.heal(a.server.node_id)
    await wait(rejoined.seen.wait())

    assert (count, count.stale, count.missing, peers) == (2, True, (b.server.node_id,), [b.server.node_id])
    assert list(a.exchange.peers) == [b.server.node_id]


def test_beat_options_are_checked(broker: MemoryBroker) -> None:
    with pytest.raises(ValueError, match="beat_misses must be an int >= 1, got 0"):
        broker.exchange(beat_misses=0)
    with pytest.raises(ValueError, match="beat_interval must be > 0, got 0"):
        broker.exchange(beat_interval=0)


async def test_while_the_link_is_down_only_what_another_node_wanted_counts_as_dropped(
    nodes: list[InNode], connect: Connect, broker: MemoryBroker
) -> None:
    a, b = nodes
    knows_u2 = asyncio.Event()
    a.server.add_presence_listener(lambda event: knows_u2.set() if event.member.id == "u2" else None)
    a1 = await connect(a, "u1")
    await connect(b, "u2")
    await wait(knows_u2.wait())  # node a knows where u2 is

    broker.partition(a.server.node_id)
    assert await wait(a.health.get()) is False
    a.server.broadcast(Message("chat", "news", b"same node", to="u1"))
    a.server.broadcast(Message("chat", "news", b"other node", to="u2"))
    a.server.broadcast(Message("chat", "news", b"everyone"))
    a.server.broadcast(Message("chat", "news", b"nobody anywhere", room="empty"))

    assert [(await a1.next("news")).body for _ in range(2)] == [b"same node", b"everyone"]
    assert a.exchange.dropped == 2


async def test_what_a_reconnecting_node_missed_is_counted_once_by_it(
    nodes: list[InNode], connect: Connect, broker: MemoryBroker
) -> None:
    a, b = nodes
    b2 = await connect(b, "u2")
    a.server.broadcast(Message("chat", "news", b"heard"))
    assert (await b2.next("news")).body == b"heard"

    broker.partition(b.server.node_id)
    assert await wait(b.health.get()) is False
    for i in range(3):
        a.server.broadcast(Message("chat", "news", b"missed %d" % i))
    assert await a.exchange.flushed(TIMEOUT)  # on the broker, which b is not subscribed to
    broker.heal(b.server.node_id)
    assert await wait(b.health.get()) is True
    a.server.broadcast(Message("chat", "news", b"after"))

    assert (await b2.next("news")).body == b"after"
    assert (b.exchange.missed, a.exchange.missed, a.exchange.dropped, b.exchange.dropped) == (3, 0, 0, 0)


async def test_a_new_link_starts_a_new_numbering_and_nothing_is_counted_twice(
    nodes: list[InNode], connect: Connect, broker: MemoryBroker
) -> None:
    a, b = nodes
    b2 = await connect(b, "u2")
    a.server.broadcast(Message("chat", "news", b"heard"))
    assert (await b2.next("news")).body == b"heard"

    broker.partition(a.server.node_id)  # the sender's link breaks: it drops and counts, itself
    assert await wait(a.health.get()) is False
    a.server.broadcast(Message("chat", "news", b"dropped"))
    broker.heal(a.server.node_id)
    assert await wait(a.health.get()) is True
    a.server.broadcast(Message("chat", "news", b"after"))

    assert (await b2.next("news")).body == b"after"
    assert (a.exchange.dropped, b.exchange.missed) == (1, 0)
