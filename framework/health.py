"""Health endpoints for probes: ``/healthz`` (the process answers) and ``/readyz`` (it should
get traffic: the server accepts connections and its exchange is healthy and subscribed).

``health.setup(app, server)`` mounts both. They carry no secrets and no connection data,
so they need no token: point a Kubernetes ``livenessProbe`` at ``/healthz`` and a
``readinessProbe`` at ``/readyz``.
"""

from __future__ import annotations

import logging

import attrs
from aiohttp import web

from .server import Server

logger = logging.getLogger("aioneffos.health")

SYNC_TIMEOUT = 0.5
"""Seconds ``/readyz`` waits for the exchange's subscriptions to be in effect."""


@attrs.frozen
class Readiness:
    """Whether a server should get new traffic, and if not, why."""

    reasons: tuple[str, ...] = ()
    """What keeps it from being ready; empty when it is."""

    @property
    def ready(self) -> bool:
        """Tell whether nothing keeps the server from being ready."""
        return not self.reasons


async def readiness(server: Server, *, sync_timeout: float = SYNC_TIMEOUT) -> Readiness:
    """Check *server*: accepting connections (not closing), its exchange healthy (the broker
    reachable) and synced (every subscription asked for in effect within *sync_timeout*)."""
    reasons: list[str] = []
    if not server.accepting:
        reasons.append("the server is closing")
    exchange = server.exchange
    if not exchange.healthy:
        reasons.append("the exchange is not healthy (its broker is unreachable)")
    elif not await exchange.synced(sync_timeout):
        reasons.append("the exchange's subscriptions are not in effect yet")
    return Readiness(tuple(reasons))


def setup(
    app: web.Application,
    server: Server,
    *,
    live_path: str = "/healthz",
    ready_path: str = "/readyz",
    sync_timeout: float = SYNC_TIMEOUT,
) -> None:
    """Mount ``GET``/``HEAD`` *live_path* and *ready_path* on *app* for *server*.

    *live_path* answers 200 ``{"status": "ok"}`` whenever the event loop runs. *ready_path*
    answers 200 ``{"status": "ready"}``, or 503 ``{"status": "not ready", "reasons": [...]}``
    while the server is closing or its exchange is unhealthy or not synced (see
    `readiness`). The server is started with the app, as `aioneffos.framework.setup` does
    (starting twice is harmless), so a pod is ready before its first websocket.
    """

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, headers=_NO_STORE)

    last = [Readiness()]  # logged on changes only: a probe every few seconds must not flood the log

    async def ready(_: web.Request) -> web.Response:
        state = await readiness(server, sync_timeout=sync_timeout)
        if state != last[0]:
            if state.ready:
                logger.info("ready again")
            else:
                logger.warning("not ready: %s", "; ".join(state.reasons))
            last[0] = state
        if state.ready:
            return web.json_response({"status": "ready"}, headers=_NO_STORE)
        body = {"status": "not ready", "reasons": list(state.reasons)}
        return web.json_response(body, status=503, headers=_NO_STORE)

    async def start(_: web.Application) -> None:
        await server.start()

    app.router.add_get(live_path, live)
    app.router.add_get(ready_path, ready)
    app.on_startup.append(start)


_NO_STORE = {"Cache-Control": "no-store"}
