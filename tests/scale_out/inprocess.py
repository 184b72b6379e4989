"""In-process clusters for tests: several `Server` nodes on one `MemoryBroker`, real clients.

Fixtures (import them into a test module): `broker` (like Redis, or like NATS),
`start_node`, `nodes` (two nodes that know each other), `connect` (a dialled client that
records events) and `watch_log` (an event set when the exchange logs a matching line).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import attrs
import pytest
from aiohttp import web

from aioneffos.framework import Conn, Message, NSConn, Server, dial
from aioneffos.framework.scaleout import BusExchange, MemoryBroker
from support.serving import Serve
from support.waiting import TIMEOUT


async def wait(awaitable: Awaitable[Any]) -> Any:
    async with asyncio.timeout(TIMEOUT):
        return await awaitable


@pytest.fixture(params=["redis-like", "nats-like"], name="broker")
def broker_fixture(request: pytest.FixtureRequest) -> MemoryBroker:
    """A broker with echo and receiver counts (as Redis), or without either (as NATS)."""
    like_redis = request.param == "redis-like"
    return MemoryBroker(name=request.param, echo=like_redis, counts=like_redis)


@attrs.define(eq=False)
class InNode:
    """One node: its server, exchange, URL and the health changes it saw."""

    server: Server
    exchange: BusExchange
    url: str
    health: asyncio.Queue[bool] = attrs.Factory(asyncio.Queue)


class Client:
    """A dialled client that records every event of namespace ``chat`` by name."""

    timeout = TIMEOUT
    """How long `next` waits for an event."""

    def __init__(self, conn: Conn, ns: NSConn, inbox: defaultdict[str, asyncio.Queue[Message]]) -> None:
        self.conn, self.ns, self.inbox = conn, ns, inbox

    async def next(self, event: str) -> Message:
        async with asyncio.timeout(self.timeout):
            return await self.inbox[event].get()

    def pending(self, event: str) -> int:
        return self.inbox[event].qsize()


class LogWatch(logging.Handler):
    """Sets an event when a record of the exchange's logger matches a pattern."""

    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.pattern.search(record.getMessage()):
            self.seen.set()


@pytest.fixture(name="watch_log")
def watch_log_fixture() -> Iterator[Callable[[str], LogWatch]]:
    """Watch ``aioneffos.exchange`` for a line matching a pattern (at INFO and above)."""
    logger = logging.getLogger("aioneffos.exchange")
    level, watches = logger.level, []

    def start(pattern: str) -> LogWatch:
        watch = LogWatch(pattern)
        watches.append(watch)
        logger.addHandler(watch)
        logger.setLevel(logging.INFO)
        return watch

    yield start
    for watch in watches:
        logger.removeHandler(watch)
    logger.setLevel(level)


def user_id(request: web.Request) -> str:
    return request.headers["X-User"]


async def answer(ns: NSConn, msg: Message) -> str:
    return f"answer from {ns.conn.id}"


def refuse(ns: NSConn, msg: Message) -> None:
    raise PermissionError("not now")


@pytest.fixture(name="start_node")
def start_node_fixture(broker: MemoryBroker, serve: Serve) -> Callable[..., Awaitable[InNode]]:
    """Serve a node of namespace ``chat`` (with *events*) on the broker; ids come from ``X-User``."""

    async def start(events: dict[str, Any] | None = None, **options: Any) -> InNode:
        settings: dict[str, Any] = {"reconnect_delay": 0.01, "reconnect_max": 0.05, "beat_interval": 1.0}
        exchange = broker.exchange(**{**settings, **options})
        server = Server({"chat": events or {}}, exchange=exchange, id_generator=user_id)
        node = InNode(server, exchange, "")
        exchange.add_health_listener(node.health.put_nowait)
        node.url = await serve(server)
        return node

    return start


@pytest.fixture(name="nodes")
async def nodes_fixture(start_node: Callable[..., Awaitable[InNode]]) -> list[InNode]:
    """Two nodes on the broker, each knowing the other."""
    made = [await start_node(), await start_node()]
    for node in made:
        assert node.health.get_nowait() is True
        assert await node.exchange.wait_peers(1, TIMEOUT)
    return made


@pytest.fixture(name="connect")
async def connect_fixture() -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    """Dial a node as *user*, connect to ``chat`` and, if *synced*, wait until the node is subscribed."""
    opened: list[Conn] = []

    async def open_client(node: InNode, user: str, *, synced: bool = True, **events: Any) -> Client:
        inbox: defaultdict[str, asyncio.Queue[Message]] = defaultdict(asyncio.Queue)

        def record(_: NSConn, msg: Message) -> None:
            inbox[msg.event].put_nowait(msg)

        conn = await dial(node.url, {"chat": {"news": record, **events}}, headers={"X-User": user})
        opened.append(conn)
        ns = await conn.connect("chat")
        if synced:
            assert await node.exchange.synced(TIMEOUT)
        return Client(conn, ns, inbox)

    yield open_client
    await asyncio.gather(*(conn.close() for conn in opened), return_exceptions=True)


Connect = Callable[..., Awaitable[Client]]
