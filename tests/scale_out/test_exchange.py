"""`RedisExchange` and `NATSExchange` in one process: two `Server` nodes on one real broker.

Faster and more exact than the multi-process suite: exclusion by connection and by id,
``to=`` with duplicate ids, room subscriptions seen by the broker itself, typed errors of
cross-node asks, the cluster count, bad bus messages and broker loss and return.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from aioneffos.framework import (
    AskTimeoutError,
    Conn,
    Message,
    NoRecipientError,
    NSConn,
    PresenceEvent,
    RemoteError,
    Server,
    Target,
    dial,
)
from aioneffos.framework.scaleout import BusExchange, Link, LinkSettings, NATSExchange, RedisExchange
from aioneffos.framework.scaleout.envelope import Envelope, EnvelopeKind, encode
from aioneffos.framework.scaleout.nats import NATSLink
from aioneffos.framework.scaleout.redis import RedisLink
from support.serving import Serve
from tests.scale_out import inprocess
from tests.scale_out.inprocess import InNode, answer, refuse, user_id
from tests.scale_out.processes import WAIT_TIMEOUT, Broker

pytestmark = pytest.mark.broker


class Client(inprocess.Client):
    """A client of a node on a real broker, which may take longer than a memory broker."""

    timeout = WAIT_TIMEOUT


def make_exchange(broker: Broker, **more: Any) -> BusExchange:
    options: dict[str, Any] = {"reconnect_delay": 0.05, "reconnect_max": 0.3, "beat_interval": 1.0, **more}
    if broker.kind == "redis":
        return RedisExchange(broker.url, **options)
    return NATSExchange(broker.url, **options)


async def start_node(
    broker: Broker, serve: Serve, events: dict[str, Any] | None = None, **options: Any
) -> InNode:
    """Serve a node of namespace ``chat`` (with *events*) on the broker; ids come from ``X-User``."""
    exchange = make_exchange(broker, **options)
    server = Server({"chat": events or {}}, exchange=exchange, id_generator=user_id)
    node = InNode(server, exchange, "")
    exchange.add_health_listener(node.health.put_nowait)
    node.url = await serve(server)
    return node


@pytest.fixture
async def nodes(broker: Broker, serve: Serve) -> list[InNode]:
    """Two nodes on the broker, served on free ports, each knowing the other."""
    made = [await start_node(broker, serve), await start_node(broker, serve)]
    for node in made:
        assert node.health.get_nowait() is True
        assert await node.exchange.wait_peers(1, WAIT_TIMEOUT)
    return made


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    """Dial a node as user *user*, connect to ``chat`` and wait until the node is subscribed."""
    opened: list[Conn] = []

    async def open_client(node: InNode, user: str, **events: Any) -> Client:
        inbox: defaultdict[str, asyncio.Queue[Message]] = defaultdict(asyncio.Queue)

        def record(_: NSConn, msg: Message) -> None:
            inbox[msg.event].put_nowait(msg)

        handlers = {"news": record, **events}
        conn = await dial(node.url, {"chat": handlers}, headers={"X-User": user})
        opened.append(conn)
        ns = await conn.connect("chat")
        assert await node.exchange.synced(WAIT_TIMEOUT)
        return Client(conn, ns, inbox)

    yield open_client
    await asyncio.gather(*(conn.close() for conn in opened), return_exceptions=True)


async def test_broadcast_excluding_a_connection_skips_only_it_across_nodes(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]]
) -> None:
    a, b = nodes
    a1, b1, b2 = await connect(a, "u1"), await connect(b, "u1"), await connect(b, "u2")
    sender = next(iter(a.server.connections))

    a.server.broadcast(Message("chat", "news", b"x"), exclude=sender)

    assert [(await b1.next("news")).body, (await b2.next("news")).body] == [b"x", b"x"]
    assert a1.pending("news") == 0


async def test_broadcast_excluding_an_id_skips_that_id_on_every_node(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]]
) -> None:
    a, b = nodes
    a1, b1, b2 = await connect(a, "u1"), await connect(b, "u1"), await connect(b, "u2")

    a.server.broadcast(Message("chat", "news", b"1"), exclude="u1")
    a.server.broadcast(Message("chat", "news", b"2"))

    assert [(await b2.next("news")).body, (await b2.next("news")).body] == [b"1", b"2"]
    assert [(await a1.next("news")).body, (await b1.next("news")).body] == [b"2", b"2"]


async def test_send_to_an_id_reaches_every_connection_with_it_on_every_node(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]]
) -> None:
    a, b = nodes
    a1, b1, b2 = await connect(a, "u1"), await connect(b, "u1"), await connect(b, "u2")

    b.server.broadcast(Message("chat", "news", b"for u1", to="u1"))
    b.server.broadcast(Message("chat", "news", b"for all"))

    assert [(await a1.next("news")).body, (await b1.next("news")).body] == [b"for u1", b"for u1"]
    assert (await b2.next("news")).body == b"for all"


async def test_room_is_subscribed_only_by_nodes_with_members(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]], broker: Broker
) -> None:
    a, b = nodes
    a1 = await connect(a, "u1")
    await connect(b, "u2")
    channel = a.exchange.channels.name(Target.of_room("chat", "lobby"))

    await a1.ns.join_room("lobby")
    assert await a.exchange.synced(WAIT_TIMEOUT)
    joined = await subscribers(broker, channel)
    await a1.ns.leave_room("lobby")
    assert await a.exchange.synced(WAIT_TIMEOUT)
    left = await subscribers(broker, channel)

    assert (joined, left) == (1, 0)


async def test_ask_is_answered_by_a_connection_on_the_other_node(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]]
) -> None:
    a, b = nodes
    await connect(b, "u2", poke=answer)

    reply = await a.server.ask(Message("chat", "poke", b"?", to="u2"), timeout=WAIT_TIMEOUT)

    assert (reply.namespace, reply.event, reply.body) == ("chat", "poke", b"answer from u2")


async def test_ask_raises_the_remote_error_reply_typed(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]]
) -> None:
    a, b = nodes
    await connect(b, "u2", poke=refuse)

    with pytest.raises(RemoteError) as caught:
        await a.server.ask(Message("chat", "poke", to="u2"), timeout=WAIT_TIMEOUT)

    assert caught.value.text == "not now"


async def test_ask_to_an_id_no_node_has_fails_at_once_with_no_recipient(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]]
) -> None:
    a, b = nodes
    await connect(b, "u2", poke=answer)

    with pytest.raises(NoRecipientError):
        await a.server.ask(Message("chat", "poke", to="ghost"), timeout=WAIT_TIMEOUT)


async def test_ask_no_node_can_deliver_fails_per_broker(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]], broker: Broker
) -> None:
    a, b = nodes
    await connect(b, "u2", poke=answer)

    # Node b gets it (u2 is there) but u2 has not connected namespace "other".
    if broker.kind == "redis":  # Redis tells how many nodes got the ask, and each said "none"
        with pytest.raises(NoRecipientError):
            await a.server.ask(Message("other", "poke", to="u2"), timeout=WAIT_TIMEOUT)
    else:  # NATS only says when nobody subscribes: here the timeout ends the wait
        with pytest.raises(AskTimeoutError):
            await a.server.ask(Message("other", "poke", to="u2"), timeout=0.5)


async def test_late_local_reply_after_a_remote_answer_is_not_dispatched_as_a_message(
    broker: Broker, serve: Serve, connect: Callable[..., Awaitable[Client]]
) -> None:
    dispatched: list[Message] = []
    marker = asyncio.Event()
    release = asyncio.Event()
    events = {"poke": lambda ns, msg: dispatched.append(msg), "marker": lambda ns, msg: marker.set()}
    a, b = await start_node(broker, serve, events), await start_node(broker, serve)
    assert await a.exchange.wait_peers(1, WAIT_TIMEOUT)

    async def slow(ns: NSConn, msg: Message) -> None:
        await release.wait()
        ns.conn.reply(msg, b"late")
        ns.emit("marker")  # handled by the server after the late reply

    await connect(a, "local", poke=slow)
    await connect(b, "remote", poke=answer)

    reply = await a.server.ask(Message("chat", "poke", b"?"), timeout=WAIT_TIMEOUT)
    release.set()
    await wait(marker.wait())

    assert (reply.body, dispatched) == (b"answer from remote", [])


async def test_close_connection_closes_that_id_on_every_node(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]]
) -> None:
    a, b = nodes
    a1, b1, b2 = await connect(a, "u1"), await connect(b, "u1"), await connect(b, "u2")

    a.server.close_connection("u1", code=4000, reason="bye")

    await asyncio.wait_for(asyncio.gather(a1.conn.wait_closed(), b1.conn.wait_closed()), WAIT_TIMEOUT)
    assert (a1.conn.close_code, b1.conn.close_code, b2.conn.is_closed) == (4000, 4000, False)


async def test_cluster_total_connections_counts_both_nodes(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]]
) -> None:
    a, b = nodes
    await connect(a, "u1")
    for user in ("u2", "u3", "u4"):
        await connect(b, user)

    counts = [await a.server.cluster_total_connections(), await b.server.cluster_total_connections()]

    assert counts == [4, 4]


async def test_bus_message_of_another_version_is_logged_once_and_skipped(
    nodes: list[InNode],
    connect: Callable[..., Awaitable[Client]],
    broker: Broker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, b = nodes
    b2 = await connect(b, "u2")
    channel = b.exchange.channels.name(Target.of_namespace("chat"))
    caplog.set_level(logging.WARNING, "aioneffos.exchange")

    valid = encode(Envelope(EnvelopeKind.PUBLISH, "other-node", Message("chat", "news", b"still fine")))
    bad = [b'\x07{"k":"pub"}\nfrom the future', b"\x07again", b"\x01not json\n"]

    await publish_raw(broker, channel, [*bad, valid])

    assert (await b2.next("news")).body == b"still fine"
    assert b2.pending("news") == 0
    assert [r.getMessage() for r in caplog.records] == [
        "skipped a bus message: envelope version 7, expected 1",
        "skipped a bus message: envelope header is not JSON: Expecting value: line 1 column 1 (char 0)",
    ]


async def test_broker_loss_keeps_local_delivery_and_restart_restores_the_cluster(
    nodes: list[InNode], connect: Callable[..., Awaitable[Client]], broker: Broker
) -> None:
    a, b = nodes
    heard: asyncio.Queue[PresenceEvent] = asyncio.Queue()
    a.server.add_presence_listener(heard.put_nowait)
    a1, a2, b1 = await connect(a, "u1"), await connect(a, "u2"), await connect(b, "u3")
    # While its link is down a node counts as dropped only what another node wanted, per
    # presence (docs/protocol.md#bus-delivery): kill the broker once a has heard of u3 on b.
    while (event := await wait(heard.get())).member.node != b.server.node_id:
        pass  # a's own joins
    assert (event.kind, event.namespace, event.member.id) == ("join", "chat", "u3")

    await broker.kill()
    assert [await wait(node.health.get()) for node in nodes] == [False, False]
    assert (a.exchange.healthy, b.exchange.healthy) == (False, False)
    dropped = a.exchange.dropped
    a.server.broadcast(Message("chat", "news", b"local only"))
    assert [(await a1.next("news")).body, (await a2.next("news")).body] == [b"local only"] * 2
    assert a.exchange.dropped == dropped + 1  # u3 on b would have received it

    await broker.start()
    assert [await wait(node.health.get()) for node in nodes] == [True, True]
    a.server.broadcast(Message("chat", "news", b"back"))

    assert (await b1.next("news")).body == b"back"
    assert b1.pending("news") == 0


async def test_node_started_without_broker_serves_locally_then_joins_when_it_appears(
    broker: Broker, serve: Serve, connect: Callable[..., Awaitable[Client]], caplog: pytest.LogCaptureFixture
) -> None:
    await broker.kill()
    a = await start_node(broker, serve, connect_timeout=0.5)
    assert (a.exchange.healthy, a.health.empty()) == (False, True)
    assert "unreachable; serving local connections only" in caplog.text
    a1 = await connect_unsynced(a, "u1")
    a.server.broadcast(Message("chat", "news", b"alone"))
    assert (await a1.next("news")).body == b"alone"

    await broker.start()
    assert await wait(a.health.get()) is True
    b = await start_node(broker, serve)
    b1 = await connect(b, "u2")
    assert await a.exchange.synced(WAIT_TIMEOUT)
    a.server.broadcast(Message("chat", "news", b"together"))

    assert (await b1.next("news")).body == b"together"
    await a1.conn.close()


async def connect_unsynced(node: InNode, user: str) -> Client:
    """Dial and connect without waiting for the broker (which is away)."""
    inbox: defaultdict[str, asyncio.Queue[Message]] = defaultdict(asyncio.Queue)
    conn = await dial(
        node.url,
        {"chat": {"news": lambda _, msg: inbox[msg.event].put_nowait(msg)}},
        headers={"X-User": user},
    )
    return Client(conn, await conn.connect("chat"), inbox)


async def test_a_link_failing_with_an_unexpected_error_is_replaced(broker: Broker, serve: Serve) -> None:
    real_link = RedisLink if broker.kind == "redis" else NATSLink
    made: list[Link] = []

    def first_link_breaks(settings: LinkSettings) -> Link:
        link = real_link(broker.url, settings)
        if not made:

            async def publish(batch: Any) -> Any:
                raise RuntimeError("injected fault")

            link.publish = publish  # type: ignore[method-assign]
        made.append(link)
        return link

    exchange = BusExchange(first_link_breaks, broker.url, reconnect_delay=0.05, beat_interval=1.0)
    health: asyncio.Queue[bool] = asyncio.Queue()
    exchange.add_health_listener(health.put_nowait)
    await serve(Server({"chat": {}}, exchange=exchange))

    assert [await wait(health.get()) for _ in range(3)] == [True, False, True]
    assert exchange.healthy


async def test_one_exchange_refuses_a_second_server(nodes: list[InNode]) -> None:
    with pytest.raises(RuntimeError, match="already serves a server"):
        await nodes[0].exchange.start(Server({"chat": {}}))


async def wait(awaitable: Awaitable[Any]) -> Any:
    async with asyncio.timeout(WAIT_TIMEOUT):
        return await awaitable


async def subscribers(broker: Broker, channel: str) -> int:
    """Ask the broker itself how many connections subscribe to *channel*."""
    if broker.kind == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(broker.url)
        try:
            [(_, count)] = await client.pubsub_numsub(channel)
        finally:
            await client.aclose()
        return int(count)
    connz = f"http://127.0.0.1:{broker.monitor_port}/connz?subs=1"
    async with aiohttp.ClientSession() as session, session.get(connz) as resp:
        conns = (await resp.json())["connections"]
    return sum(channel in conn.get("subscriptions_list", []) for conn in conns)


async def publish_raw(broker: Broker, channel: str, payloads: list[bytes]) -> None:
    """Publish raw bytes on *channel*, as a foreign or newer node would."""
    if broker.kind == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(broker.url)
        try:
            for payload in payloads:
                await client.publish(channel, payload)
        finally:
            await client.aclose()
        return
    import nats

    nc = await nats.connect(broker.url)
    try:
        for payload in payloads:
            await nc.publish(channel, payload)
        await nc.flush()
    finally:
        await nc.close()


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
async def test_redis_publishes_with_pipelines_where_scripts_are_not_allowed(
    broker: Broker, serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as aioredis

    admin = aioredis.Redis.from_url(broker.url)
    try:  # a user that may do everything but run scripts, as some managed Redis services set up
        await admin.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all", "-@scripting")
    finally:
        await admin.aclose()
    url = broker.url.replace("redis://", "redis://app:pw@")
    nodes = []
    for _ in range(2):
        exchange = RedisExchange(url, reconnect_delay=0.05, reconnect_max=0.3, beat_interval=1.0)
        server = Server({"chat": {}}, exchange=exchange, id_generator=user_id)
        node = InNode(server, exchange, "")
        node.url = await serve(server)
        nodes.append(node)
    a, b = nodes
    assert await a.exchange.wait_peers(1, WAIT_TIMEOUT)
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    conn = await dial(
        b.url, {"chat": {"news": lambda _, msg: inbox.put_nowait(msg)}}, headers={"X-User": "u2"}
    )
    try:
        await conn.connect("chat")
        assert await b.exchange.synced(WAIT_TIMEOUT)

        for i in range(3):
            a.server.broadcast(Message("chat", "news", b"%d" % i))

        async with asyncio.timeout(WAIT_TIMEOUT):
            got = [(await inbox.get()).body for _ in range(3)]
        assert got == [b"0", b"1", b"2"]
        assert "scripts refused" in caplog.text
        assert "publishing with pipelines" in caplog.text
        assert a.exchange.dropped == 0
    finally:
        await conn.close()
