"""The link keeper (`BusSession`) over the in-memory broker: it comes up, reconnects,
resubscribes, reports health once per transition and counts what it drops; and what links
share (URLs fit for logs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from aioneffos.framework import PayloadTooLargeError
from aioneffos.framework.exchange import ExchangeHealth
from aioneffos.framework.scaleout import MemoryBroker
from aioneffos.framework.scaleout.link import LinkSettings, redacted_url
from aioneffos.framework.scaleout.session import BusSession
from support.waiting import TIMEOUT


async def wait(awaitable: Awaitable[Any]) -> Any:
    async with asyncio.timeout(TIMEOUT):
        return await awaitable


class Node:
    """One session on the broker, with what it received and the health changes it saw."""

    def __init__(self, broker: MemoryBroker, name: str, **options: Any) -> None:
        settings = {
            "reconnect_delay": 0.01,
            "reconnect_max": 0.05,
            "connect_timeout": 0.5,
            "tick": 60.0,
            "max_pending": 100,
            "max_batch": 16,
            **options,
        }
        self.ups = 0
        self.received: list[bytes] = []
        self.arrived = asyncio.Event()
        self.health: asyncio.Queue[bool] = asyncio.Queue()
        self.session = BusSession(
            lambda: broker.link(LinkSettings(name, settings["connect_timeout"], settings["tick"])),
            self._receive,
            on_up=self._up,
            on_tick=lambda: None,
            broker=broker.name,
            **settings,
        )
        self.session.add_health_listener(self.health.put_nowait)
        self.name = name

    def _up(self) -> None:
        self.ups += 1

    def _receive(self, data: bytes) -> None:
        self.received.append(data)
        self.arrived.set()

    async def start(self) -> bool:
        return await self.session.start(f"node {self.name}")

    async def receive(self, count: int) -> list[bytes]:
        """Wait until *count* messages have arrived; give them."""
        while len(self.received) < count:
            self.arrived.clear()
            await wait(self.arrived.wait())
        return self.received


@pytest.fixture
async def nodes() -> AsyncIterator[Callable[..., Node]]:
    """Make sessions on a broker; every one is stopped at teardown."""
    made: list[Node] = []

    def make(broker: MemoryBroker, name: str, **options: Any) -> Node:
        node = Node(broker, name, **options)
        made.append(node)
        return node

    yield make
    await asyncio.gather(*(node.session.stop() for node in made))


async def test_session_comes_up_subscribed_and_healthy(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    node = nodes(broker, "a")
    node.session.want("ch.1")

    assert await node.start()

    assert (broker.subscribers("ch.1"), node.health.get_nowait(), node.ups) == (1, True, 1)
    assert await node.session.synced(TIMEOUT)


async def test_want_and_unwant_reach_the_broker_once_synced(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    node = nodes(broker, "a")
    await node.start()

    node.session.want("ch.1")
    node.session.want("ch.2")
    assert await node.session.synced(TIMEOUT)
    both = (broker.subscribers("ch.1"), broker.subscribers("ch.2"))
    node.session.unwant("ch.1")
    assert await node.session.synced(TIMEOUT)

    assert (both, broker.subscribers("ch.1"), broker.subscribers("ch.2")) == ((1, 1), 0, 1)


async def test_session_publishes_in_order(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    sender, receiver = nodes(broker, "a", max_batch=3), nodes(broker, "b")
    receiver.session.want("ch")
    await sender.start()
    await receiver.start()

    for i in range(10):
        sender.session.send("ch", b"%d" % i)

    assert await receiver.receive(10) == [b"%d" % i for i in range(10)]


async def test_broker_loss_is_reported_once_and_the_link_comes_back_resubscribed(
    nodes: Callable[..., Node], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "aioneffos.exchange")
    broker = MemoryBroker()
    node = nodes(broker, "a")
    node.session.want("ch.1")
    await node.start()
    node.session.want("ch.2")
    assert await node.session.synced(TIMEOUT)
    assert node.health.get_nowait() is True
    counts: list[int | None] = []

    broker.stop()
    assert await wait(node.health.get()) is False
    node.session.send("ch.1", b"lost", counts.append)
    node.session.send("ch.1", b"lost too")
    broker.start()
    assert await wait(node.health.get()) is True

    assert (node.session.dropped, counts, node.ups) == (2, [0], 2)
    assert (broker.subscribers("ch.1"), broker.subscribers("ch.2"), len(broker.links)) == (1, 1, 1)
    lines = [r.getMessage() for r in caplog.records if "link" in r.getMessage()]
    assert [line.split(" link ")[1].split(" ")[0] for line in lines] == ["up", "LOST", "RESTORED"]
    assert lines[-1].endswith("(2 messages dropped meanwhile)")


async def test_session_started_without_broker_comes_up_when_it_appears(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    broker.stop()
    node = nodes(broker, "a", connect_timeout=0.2)

    assert await node.start() is False
    assert (node.session.healthy, node.health.empty()) == (False, True)
    broker.start()

    assert await wait(node.health.get()) is True


async def test_a_failing_publish_drops_its_batch_and_the_link_is_replaced(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    sender, receiver = nodes(broker, "a"), nodes(broker, "b")
    receiver.session.want("ch")
    await sender.start()
    await receiver.start()
    first_link = broker.links[0]
    broker.fail_publishes(1, RuntimeError("injected fault"))

    sender.session.send("ch", b"lost")
    assert [await wait(sender.health.get()) for _ in range(3)] == [True, False, True]
    sender.session.send("ch", b"after")

    assert (await receiver.receive(1), sender.session.dropped) == ([b"after"], 1)
    assert (first_link.is_broken, first_link in broker.links) == (True, False)


async def test_messages_past_max_pending_are_dropped_and_counted(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    sender, receiver = nodes(broker, "a", max_pending=3, max_batch=1), nodes(broker, "b")
    receiver.session.want("ch")
    await sender.start()
    await receiver.start()
    counts: list[int | None] = []
    broker.hold()

    for i in range(5):
        sender.session.send("ch", b"%d" % i, counts.append)
    assert (sender.session.dropped, counts) == (2, [0, 0])
    broker.release()

    assert await receiver.receive(3) == [b"0", b"1", b"2"]
    assert counts == [0, 0, 1, 1, 1]


async def test_drop_policy_drops_the_newest_counts_each_once_warns_once_and_degrades(
    nodes: Callable[..., Node], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "aioneffos.exchange")
    broker = MemoryBroker()
    sender = nodes(broker, "a", max_pending=4, max_batch=1, overflow="drop")
    receiver = nodes(broker, "b")
    receiver.session.want("ch")
    await sender.start()
    await receiver.start()
    broker.hold()

    for i in range(10):
        sender.session.send("ch", b"%d" % i)
    state = (sender.session.dropped, sender.session.health, sender.session.congested)
    broker.release()

    assert state == (6, ExchangeHealth.DEGRADED, False)  # drop never makes publishers wait
    assert await receiver.receive(4) == [b"0", b"1", b"2", b"3"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "node a: bus to broker memory DEGRADED: 2 message(s) queued (max_pending 4, overflow='drop')",
        "1 message(s) for other nodes dropped by node a since the last such line: the bus queue is full"
        " (max_pending 4, overflow='drop')",
    ]


async def test_backpressure_makes_publishers_wait_for_room_and_drops_nothing(
    nodes: Callable[..., Node],
) -> None:
    broker = MemoryBroker()
    sender, receiver = nodes(broker, "a", max_pending=8, max_batch=2), nodes(broker, "b")
    receiver.session.want("ch")
    await sender.start()
    await receiver.start()
    peak, waits, health = 0, 0, set()
    waiting = asyncio.Event()

    async def publisher() -> None:
        nonlocal peak, waits
        for i in range(40):
            sender.session.send("ch", b"%d" % i)
            peak = max(peak, sender.session.queued)
            health.add(sender.session.health)
            if sender.session.congested:
                waits += 1
                waiting.set()
            assert await sender.session.room(TIMEOUT)

    broker.hold()
    task = asyncio.get_running_loop().create_task(publisher())
    await wait(waiting.wait())
    broker.release()
    await wait(task)

    assert await receiver.receive(40) == [b"%d" % i for i in range(40)]
    assert (peak, waits > 0, health) == (4, True, {ExchangeHealth.UP, ExchangeHealth.DEGRADED})
    assert (sender.session.dropped, sender.session.published, sender.session.health) == (
        0,
        40,
        ExchangeHealth.UP,
    )


async def test_a_wait_for_room_is_bounded_while_the_broker_stalls_and_is_reported(
    nodes: Callable[..., Node], caplog: pytest.LogCaptureFixture
) -> None:
    broker = MemoryBroker()
    sender, receiver = nodes(broker, "a", max_pending=4, max_batch=1), nodes(broker, "b")
    receiver.session.want("ch")
    await sender.start()
    await receiver.start()
    broker.hold()
    for i in range(3):
        sender.session.send("ch", b"%d" % i)

    got_room = await sender.session.room(0.01)
    for i in range(3, 8):
        sender.session.send("ch", b"%d" % i)
    broker.release()

    assert (got_room, sender.session.dropped) == (False, 3)  # 1 in the stalled publish + 4 queued
    assert "1 wait(s) for room on the bus timed out since the last such line (node a)" in caplog.text
    assert await receiver.receive(5) == [b"%d" % i for i in range(5)]


async def test_room_is_there_at_once_while_the_link_is_down(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    node = nodes(broker, "a", max_pending=4)
    await node.start()
    assert node.health.get_nowait() is True
    broker.stop()
    assert await wait(node.health.get()) is False

    for i in range(10):
        node.session.send("ch", b"%d" % i)

    assert (await node.session.room(TIMEOUT), node.session.congested) == (True, False)
    assert (node.session.dropped, node.session.health) == (10, ExchangeHealth.DOWN)


async def test_urgent_messages_go_first_and_are_never_dropped_for_room(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    sender, receiver = nodes(broker, "a", max_pending=2, max_batch=8, overflow="drop"), nodes(broker, "b")
    receiver.session.want("ch")
    await sender.start()
    await receiver.start()

    for i in range(3):
        sender.session.send("ch", b"user %d" % i)
    for i in range(3):
        sender.session.send("ch", b"urgent %d" % i, urgent=True)

    assert await receiver.receive(5) == [b"urgent 0", b"urgent 1", b"urgent 2", b"user 0", b"user 1"]
    assert (sender.session.dropped, sender.session.published) == (1, 2)


async def test_a_message_over_max_payload_is_refused_before_the_link_which_stays_up(
    nodes: Callable[..., Node], caplog: pytest.LogCaptureFixture
) -> None:
    broker = MemoryBroker(max_payload=8)
    sender, receiver = nodes(broker, "a"), nodes(broker, "b")
    receiver.session.want("ch")
    await sender.start()
    await receiver.start()
    assert sender.session.max_payload == 8

    with pytest.raises(
        PayloadTooLargeError, match="a message of 19 bytes is over the 8-byte limit"
    ) as caught:
        sender.session.send("ch", b"far too long for it")
    sender.session.send("ch", b"short")

    assert (caught.value.size, caught.value.limit) == (19, 8)
    assert (await receiver.receive(1), sender.session.dropped, sender.session.refused) == ([b"short"], 0, 1)
    assert (sender.health.get_nowait(), sender.health.empty(), len(broker.links)) == (True, True, 2)
    assert (
        "1 message(s) refused since the last such line: a message of 19 bytes over the 8-byte limit"
        in caplog.text
    )


async def test_the_exchange_limit_applies_when_lower_than_the_broker_one(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker(max_payload=100)
    node = nodes(broker, "a", max_payload=10)
    unlimited = nodes(MemoryBroker(), "b", max_payload=None)
    await node.start()
    await unlimited.start()

    assert (node.session.max_payload, unlimited.session.max_payload) == (10, None)


async def test_stop_publishes_what_is_queued_then_leaves_the_broker(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    sender, receiver = nodes(broker, "a"), nodes(broker, "b")
    receiver.session.want("ch")
    await sender.start()
    await receiver.start()

    for i in range(3):
        sender.session.send("ch", b"%d" % i)
    await sender.session.stop()

    assert await receiver.receive(3) == [b"0", b"1", b"2"]
    assert [link.node for link in broker.links] == ["b"]


async def test_memory_broker_counts_receivers_with_echo_as_redis_does() -> None:
    broker = MemoryBroker()
    got: list[list[bytes]] = [[], []]
    links = [broker.link(LinkSettings(name, 1.0, 1.0)) for name in ("a", "b")]
    for link, inbox in zip(links, got, strict=True):
        await link.open({"ch"}, inbox.append)
    counts: list[int | None] = []

    await links[0].publish([("ch", b"x", counts.append), ("other", b"y", counts.append)])

    assert counts == [2, 0]
    assert broker.publish("ch", b"raw") == 2
    for link in links:
        await link.close()


async def test_memory_broker_without_echo_tells_only_that_nobody_got_it_as_nats_does() -> None:
    broker = MemoryBroker(echo=False, counts=False)
    links = [broker.link(LinkSettings(name, 1.0, 1.0)) for name in ("a", "b")]
    for link in links:
        await link.open({"ch", "mine." + link.node}, lambda _: None)
    counts: list[int | None] = []

    await links[0].publish([("ch", b"x", counts.append), ("mine.a", b"y", counts.append)])

    assert counts == [None, 0]
    for link in links:
        await link.close()


async def test_partitioned_node_cannot_reconnect_until_healed(nodes: Callable[..., Node]) -> None:
    broker = MemoryBroker()
    cut, other = nodes(broker, "a"), nodes(broker, "b")
    await cut.start()
    await other.start()

    assert cut.health.get_nowait() is True

    broker.partition("a")
    assert await wait(cut.health.get()) is False
    assert [link.node for link in broker.links] == ["b"]
    broker.heal("a")

    assert await wait(cut.health.get()) is True
    assert (other.health.get_nowait(), other.health.empty()) == (True, True)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:secret@redis.local:6379/0", "redis://:***@redis.local:6379/0"),
        ("rediss://app:secret@redis.local/1", "rediss://app:***@redis.local/1"),
        ("nats://s3cr3t-token@nats.local:4222", "nats://***@nats.local:4222"),
        ("tls://user:pw@nats.local", "tls://user:***@nats.local"),
    ],
)
def test_redacted_url_hides_passwords_and_bare_tokens(url: str, shown: str) -> None:
    assert redacted_url(url) == shown
