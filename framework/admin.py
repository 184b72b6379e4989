"""The admin page: who is connected where, live, and a way to disconnect a connection.

``admin.setup(app, server, token=...)`` mounts a plain HTML/JS page (no build step) that
polls a JSON view of this process's server every few seconds:

* ``GET <path>`` (and its ``admin.js``, ``admin.css``, ``icon.svg``): the page. It holds no data, only
  the code that asks for it, so it is served to anyone, like a login form.
* ``GET <path>/api/state``: connections (id, remote address, namespaces and rooms, queued
  frames and bytes, asks in flight), rooms and their members, the exchange's health and
  the other nodes it sees. Needs the token.
* ``POST <path>/api/disconnect`` with JSON ``{"key": "<connection key>"}``: closes that
  connection with 1008. Needs the token.

The token travels in an ``Authorization: Bearer`` header, never in a URL or a cookie: it
does not reach access logs, and another site cannot make a browser send it (a forged
cross-site POST has no token; a cross-site ``fetch`` that sets the header is stopped by
CORS). It is compared in constant time and never logged. The page takes it from the URL
fragment (``<path>#token=...``, which browsers never send) or a form, and keeps it in
``sessionStorage``. Every value is put into the page as text, never as HTML, under a
Content-Security-Policy that allows only the page's own script.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from .conn import Conn
from .health import readiness
from .logs import WarnOnce, fields
from .protocol import ADMIN_DISCONNECT, CloseCode
from .server import Server

logger = logging.getLogger("aioneffos.admin")

Check = Callable[[web.Request], bool | Awaitable[bool]]
"""Decides whether a request may use the admin API (``True``) or not."""

MIN_TOKEN_LENGTH = 16
MAX_CONNECTIONS = 500
"""Connections listed at most (the view says how many there are in all)."""
MAX_MEMBERS = 100
"""Members listed at most per room."""
DISCONNECT_REASON = ADMIN_DISCONNECT

_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+")
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self';"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def setup(
    app: web.Application,
    server: Server,
    *,
    token: str | None = None,
    check: Check | None = None,
    path: str = "/admin",
    poll_seconds: float = 2.0,
) -> None:
    """Mount the admin page of *server* on *app* at *path*.

    Give exactly one of *token* (at least 16 characters; send it as ``Authorization:
    Bearer <token>``) or *check* (called with each API request, sync or async: say, to trust
    a header your authenticating proxy sets). Raise `ValueError` otherwise, or for a
    *path* that is not a plain ``/segment/...`` path.
    """
    if (token is None) == (check is None):
        raise ValueError("give the admin page a token or a check (exactly one)")
    if not _PATH.fullmatch(path):
        raise ValueError(f"an admin path is like '/admin' (letters, digits, '._~-' segments), got {path!r}")
    allowed = check if check is not None else token_check(token or "")
    refusals = WarnOnce(100)  # one warning per remote address: guessing must not flood the log

    async def authorized(request: web.Request) -> bool:
        verdict = allowed(request)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is True:
            return True
        remote = request.remote or "?"
        seen = refusals.note(remote)
        if seen == "new":
            logger.warning(
                "refused %s %s from %s: no valid admin token", request.method, request.path, remote
            )
        elif seen == "full":
            logger.warning("refused admin requests from more than 100 addresses; no more are reported")
        return False

    def refused() -> web.Response:
        return web.json_response(
            {"error": "the admin API needs a valid token (Authorization: Bearer ...)"},
            status=401,
            headers={**_API_HEADERS, "WWW-Authenticate": 'Bearer realm="aioneffos admin"'},
        )

    files = resources.files(__package__) / "admin_page"
    page = (
        (files / "index.html")
        .read_text(encoding="utf-8")
        .replace("{{base}}", path)
        .replace("{{poll_ms}}", str(int(poll_seconds * 1000)))
    )
    script = (files / "admin.js").read_text(encoding="utf-8")
    style = (files / "admin.css").read_text(encoding="utf-8")
    icon = (files / "icon.svg").read_text(encoding="utf-8")

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", headers=_PAGE_HEADERS)

    async def admin_js(_: web.Request) -> web.Response:
        return web.Response(text=script, content_type="text/javascript", headers=_PAGE_HEADERS)

    async def admin_css(_: web.Request) -> web.Response:
        return web.Response(text=style, content_type="text/css", headers=_PAGE_HEADERS)

    async def admin_icon(_: web.Request) -> web.Response:
        return web.Response(text=icon, content_type="image/svg+xml", headers=_PAGE_HEADERS)

    async def state(request: web.Request) -> web.Response:
        if not await authorized(request):
            return refused()
        return web.json_response(await snapshot(server), headers=_API_HEADERS)

    async def disconnect(request: web.Request) -> web.Response:
        if not await authorized(request):
            return refused()
        if request.content_type != "application/json":
            return _error(415, 'send JSON: {"key": "<connection key>"}')
        try:
            key = (await request.json()).get("key")
        except (ValueError, AttributeError):
            key = None
        if not isinstance(key, str):
            return _error(400, 'send JSON: {"key": "<connection key>"}')
        conn = next((c for c in server.connections if c.key == key), None)
        if conn is None:
            return _error(404, "no such connection on this node (it may have gone already)")
        logger.info("administrator at %s closes %r", request.remote or "?", conn, extra=fields(conn.id))
        conn.fire_and_forget(lambda: conn.close(CloseCode.POLICY_VIOLATION, DISCONNECT_REASON))
        return web.json_response({"closing": conn.id}, headers=_API_HEADERS)

    app.router.add_get(path, index)
    app.router.add_get(f"{path}/admin.js", admin_js)
    app.router.add_get(f"{path}/admin.css", admin_css)
    app.router.add_get(f"{path}/icon.svg", admin_icon)
    app.router.add_get(f"{path}/api/state", state)
    app.router.add_post(f"{path}/api/disconnect", disconnect)


def token_check(token: str, *, owner: str = "admin") -> Check:
    """Make a check that lets through requests with ``Authorization: Bearer <token>``.

    Raise `ValueError` naming *owner* for a token of fewer than `MIN_TOKEN_LENGTH` characters.
    """
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the {owner} token has at least {MIN_TOKEN_LENGTH} characters, got {len(token)}")
    expected = token.encode()

    def check(request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # compare_digest takes as long whatever matches; only the length can leak.
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    return check


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status, headers=_API_HEADERS)


async def snapshot(server: Server) -> dict[str, Any]:
    """Give the admin view of *server* as JSON data: the server, its exchange, connections, rooms."""
    conns = list(server.connections)
    rooms: dict[tuple[str, str], list[str]] = {}
    for conn in conns:
        for ns in conn.namespaces.values():
            for room in ns.rooms:
                rooms.setdefault((ns.namespace, room), []).append(conn.id)
    ready = await readiness(server)
    return {
        "node": server.node_id,
        "accepting": server.accepting,
        "ready": ready.ready,
        "reasons": list(ready.reasons),
        "namespaces": sorted(server.namespaces),
        "exchange": _exchange_view(server),
        "total": len(conns),
        "connections": [_conn_view(conn) for conn in conns[:MAX_CONNECTIONS]],
        "rooms": [
            {"namespace": ns, "room": room, "count": len(members), "members": members[:MAX_MEMBERS]}
            for (ns, room), members in sorted(rooms.items())
        ],
    }


def _conn_view(conn: Conn) -> dict[str, Any]:
    return {
        "key": conn.key,
        "id": conn.id,
        "remote": conn.remote,
        "namespaces": {name: sorted(ns.rooms) for name, ns in conn.namespaces.items()},
        "queued_frames": conn.queued_frames,
        "queued_bytes": conn.queued_bytes,
        "asks_in_flight": conn.asks_in_flight,
        "reconnect_tries": conn.reconnect_tries,
        "closing": conn.is_closed,
    }


EXCHANGE_COUNTS = ("published", "received", "dropped", "missed", "refused", "queued")
"""The exchange's counters the view shows, when it has them (a scale-out exchange does)."""


def _exchange_view(server: Server) -> dict[str, Any]:
    exchange = server.exchange
    peers = getattr(exchange, "peers", None)
    broker = getattr(exchange, "broker", None)  # already without credentials (as logs name it)
    counts = {name: getattr(exchange, name, None) for name in EXCHANGE_COUNTS}
    return {
        "kind": type(exchange).__name__,
        "healthy": exchange.healthy,
        "health": exchange.health.value,
        "broker": broker if isinstance(broker, str) else None,
        "peers": sorted(str(p) for p in peers) if peers is not None else [],
        "counts": {name: value for name, value in counts.items() if isinstance(value, int)},
    }
