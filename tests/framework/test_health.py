"""`/healthz` and `/readyz`: codes and bodies for probes, while serving and while closing."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from aioneffos.framework import Server, health
from support.serving import Serve


async def serve_with_health(serve: Serve, server: Server) -> URL:
    app = web.Application()
    health.setup(app, server)
    return URL(await serve(server, app=app)).with_scheme("http").with_path("/")


async def get(session: aiohttp.ClientSession, url: URL, method: str = "GET") -> tuple[int, object]:
    async with session.request(method, url) as response:
        body = await response.json() if method == "GET" else None
        assert response.headers["Cache-Control"] == "no-store"
        return response.status, body


async def test_healthz_and_readyz_answer_200_while_serving(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    base = await serve_with_health(serve, Server({"default": {}}))
    assert await get(session, base / "healthz") == (200, {"status": "ok"})
    assert await get(session, base / "readyz") == (200, {"status": "ready"})
    assert await get(session, base / "readyz", "HEAD") == (200, None)


async def test_readyz_answers_503_with_reasons_once_the_server_closes(
    serve: Serve, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server({"default": {}})
    base = await serve_with_health(serve, server)
    await server.close()

    assert await get(session, base / "readyz") == (
        503,
        {"status": "not ready", "reasons": ["the server is closing"]},
    )
    assert await get(session, base / "readyz") == (
        503,
        {"status": "not ready", "reasons": ["the server is closing"]},
    )
    assert await get(session, base / "healthz") == (200, {"status": "ok"})  # alive, just not for new traffic
    # Logged once, on the change: a probe every few seconds does not flood the log.
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "aioneffos.health"] == [
        (logging.WARNING, "not ready: the server is closing")
    ]


async def test_health_setup_starts_the_server_with_the_app(serve: Serve) -> None:
    server = Server({"default": {}})
    with pytest.raises(RuntimeError, match=r"before Server.start"):
        await server.cluster_total_connections()
    app = web.Application()
    health.setup(app, server)  # without aioneffos.framework.setup
    await serve(app=app)
    assert await server.cluster_total_connections() == 0  # the exchange was started with the app
