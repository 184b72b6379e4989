"""`/readyz` of a node on a real broker: not ready while the broker is away, ready once it is back."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from aioneffos.framework import Server, admin, health
from support.serving import Serve
from tests.scale_out.processes import WAIT_TIMEOUT, Broker
from tests.scale_out.test_exchange import make_exchange

pytestmark = pytest.mark.broker

UNHEALTHY = {"status": "not ready", "reasons": ["the exchange is not healthy (its broker is unreachable)"]}


async def readyz(url: URL) -> tuple[int, object]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def test_readyz_follows_the_broker(broker: Broker, serve: Serve) -> None:
    exchange = make_exchange(broker)
    changes: asyncio.Queue[bool] = asyncio.Queue()
    exchange.add_health_listener(changes.put_nowait)
    server = Server({"chat": {}}, exchange=exchange)
    app = web.Application()
    health.setup(app, server)
    url = URL(await serve(server, app=app)).with_scheme("http").with_path("/readyz")

    async def changed() -> bool:
        async with asyncio.timeout(WAIT_TIMEOUT):
            return await changes.get()

    assert await changed() is True  # linked at start-up
    assert await readyz(url) == (200, {"status": "ready"})
    await broker.kill()
    assert await changed() is False
    assert await readyz(url) == (503, UNHEALTHY)
    await broker.start()
    assert await changed() is True
    assert await readyz(url) == (200, {"status": "ready"})


async def test_admin_state_shows_the_broker_and_the_other_nodes(broker: Broker, serve: Serve) -> None:
    token = "scale-out-admin-token-0123"
    servers = [Server({"chat": {}}, exchange=make_exchange(broker)) for _ in range(2)]
    app = web.Application()
    admin.setup(app, servers[0], token=token)
    url = URL(await serve(servers[0], app=app)).with_scheme("http").with_path("/admin/api/state")
    await serve(servers[1])
    assert await servers[0].exchange.wait_peers(1, WAIT_TIMEOUT)  # type: ignore[attr-defined]

    bearer = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as session, session.get(url, headers=bearer) as response:
        state = await response.json()

    assert state["exchange"] == {
        "kind": "RedisExchange" if broker.kind == "redis" else "NATSExchange",
        "healthy": True,
        "health": "up",
        "broker": broker.url,
        "peers": [servers[1].node_id],
        "counts": {"published": 0, "received": 0, "dropped": 0, "missed": 0, "refused": 0, "queued": 0},
    }
    assert (state["node"], state["ready"]) == (servers[0].node_id, True)
