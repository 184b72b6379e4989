"""Exchange metrics of two in-process nodes on a `MemoryBroker`: health, and the cross-node counts
(published, received, dropped, missed) as each node's ``/metrics`` shows them."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from aioneffos.framework import Message, Server, metrics
from aioneffos.framework.scaleout import MemoryBroker
from support.serving import Serve
from tests.scale_out.inprocess import (  # noqa: F401 (fixtures)
    TIMEOUT,
    Connect,
    InNode,
    broker_fixture,
    connect_fixture,
    user_id,
    wait,
)


async def metered_node(broker: MemoryBroker, serve: Serve) -> tuple[InNode, URL]:
    exchange = broker.exchange(reconnect_delay=0.01, reconnect_max=0.05)
    server = Server({"chat": {}}, exchange=exchange, id_generator=user_id)
    node = InNode(server, exchange, "")
    exchange.add_health_listener(node.health.put_nowait)
    app = web.Application()
    metrics.setup(app, server, registry=CollectorRegistry())
    node.url = await serve(server, app=app)
    return node, URL(node.url).with_scheme("http").with_path("/metrics")


async def scrape(url: URL) -> dict[str, float]:
    """Give the samples of the exchange's metrics by name (the health one by state)."""
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("aioneffos_exchange_"):
                state = sample.labels.get("state")
                found[f"{sample.name}:{state}" if state else sample.name] = sample.value
    return found


async def test_each_node_shows_its_exchange_health_and_cross_node_counts(
    broker: MemoryBroker, serve: Serve, connect: Connect
) -> None:
    (a, a_metrics), (b, b_metrics) = [await metered_node(broker, serve) for _ in range(2)]
    for node in (a, b):
        assert await wait(node.health.get()) is True
        assert await node.exchange.wait_peers(1, TIMEOUT)
    b2 = await connect(b, "u2")
    a.server.broadcast(Message("chat", "news", b"heard"))
    assert (await b2.next("news")).body == b"heard"

    broker.partition(b.server.node_id)  # b misses what a publishes meanwhile
    assert await wait(b.health.get()) is False
    down = await scrape(b_metrics)
    assert [down[f"aioneffos_exchange_health:{state}"] for state in ("up", "degraded", "down")] == [0, 0, 1]
    for i in range(3):
        a.server.broadcast(Message("chat", "news", b"missed %d" % i))
    assert await a.exchange.flushed(TIMEOUT)
    broker.heal(b.server.node_id)
    assert await wait(b.health.get()) is True
    a.server.broadcast(Message("chat", "news", b"back"))  # the gap before it is what b missed
    assert (await b2.next("news")).body == b"back"

    broker.partition(a.server.node_id)  # a cannot send: it drops, and counts
    assert await wait(a.health.get()) is False
    a.server.broadcast(Message("chat", "news", b"dropped"))
    broker.heal(a.server.node_id)
    assert await wait(a.health.get()) is True
    a.server.broadcast(Message("chat", "news", b"after"))
    assert (await b2.next("news")).body == b"after"

    on_a, on_b = await scrape(a_metrics), await scrape(b_metrics)
    assert (on_a["aioneffos_exchange_dropped_total"], on_b["aioneffos_exchange_missed_total"]) == (1, 3)
    assert (on_a["aioneffos_exchange_missed_total"], on_b["aioneffos_exchange_dropped_total"]) == (0, 0)
    assert on_a["aioneffos_exchange_published_total"] == a.exchange.published >= 6
    assert on_b["aioneffos_exchange_received_total"] == b.exchange.received >= 3
    assert on_a["aioneffos_exchange_peers"] == on_b["aioneffos_exchange_peers"] == 1
    assert [on_a[f"aioneffos_exchange_health:{state}"] for state in ("up", "degraded", "down")] == [1, 0, 0]
    assert on_a["aioneffos_exchange_refused_total"] == 0
    assert "aioneffos_exchange_queued" in on_a
