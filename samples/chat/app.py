"""The chat application: aiohttp serves the page, the controller serves ``/ws``; health
endpoints, Prometheus metrics and the admin page come along (see `admin_token` for when the
admin page is on)."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from aioneffos.controllers.asyncapi import add_asyncapi_route
from aioneffos.framework import Server, admin, handler, health, setup
from aioneffos.mvc import Application
from samples.chat.controller import ChatController, user_from_request
from samples.chat.store import MessageStore
from samples.common import add_neffos_js, page

try:  # the metrics extra (prometheus-client): in the repository's .venv, not in a bare install
    from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector

    from aioneffos.framework import metrics

    HAS_METRICS = True
except ImportError:
    HAS_METRICS = False

STATIC = Path(__file__).with_name("static")
ENDPOINT = "/ws"
ADMIN_PATH = "/admin"
METRICS_PATH = "/metrics"
TOKEN_VARIABLE = "AIONEFFOS_ADMIN_TOKEN"


def make_app(*, store: MessageStore | None = None, admin_token: str | None = None) -> web.Application:
    """Build the chat: the page at ``/`` (assets under ``/static/``), websockets at ``/ws``,
    ``/healthz``, ``/readyz``, ``/metrics`` (with the metrics extra), and with *admin_token*
    the admin page at ``/admin``."""
    app = web.Application()
    app.router.add_get("/", page(STATIC / "index.html"))
    app.router.add_static("/static/", STATIC)
    add_neffos_js(app)

    mvc_app = Application(app, ENDPOINT)
    mvc_app.register(store if store is not None else MessageStore())  # app scope: one store
    mvc_app.register(user_from_request)  # connection scope: one User per connection
    mvc_app.handle_websocket(ChatController)
    server = Server(mvc_app)
    mvc_app.router.add_get("/", handler(server))  # "/" under the prefix: /ws
    setup(app, server)
    health.setup(app, server)  # /healthz and /readyz, for a load balancer or Kubernetes
    if HAS_METRICS:
        # A registry per app (a test process builds many); with the process metrics a
        # program gets from prometheus-client's default registry.
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
        metrics.setup(app, server, registry=registry, path=METRICS_PATH)  # for Prometheus
    if admin_token is not None:
        admin.setup(app, server, token=admin_token, path=ADMIN_PATH)
    add_asyncapi_route(app, server, pathname=ENDPOINT, title="chat sample")  # the contract, for front ends
    return app


def about_metrics(host: str, port: int) -> str:
    """Say where the metrics are served, or how to get them."""
    if not HAS_METRICS:
        return "metrics off: install the metrics extra (pip install '.[metrics]') for /metrics"
    return f"metrics: {_base(host, port)}{METRICS_PATH} (Prometheus)"


def _base(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def admin_token(host: str, port: int, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """Decide the admin page's token and what to print about it at start-up.

    A token from ``$AIONEFFOS_ADMIN_TOKEN`` is used and never printed. Without one, a
    server listening on a loopback address makes a random token and prints the page's
    address with it (only this machine can reach the page; the token goes to your
    terminal, not to a log); on any other address the admin page stays off, since a
    printed token could end up in collected logs.
    """
    url = f"{_base(host, port)}{ADMIN_PATH}"
    given = environ.get(TOKEN_VARIABLE)
    if given is not None:
        if len(given) < admin.MIN_TOKEN_LENGTH:
            return (
                None,
                f"admin page off: ${TOKEN_VARIABLE} has fewer than {admin.MIN_TOKEN_LENGTH} characters",
            )
        return given, f"admin page: {url} (token from ${TOKEN_VARIABLE})"
    if _is_loopback(host):
        token = secrets.token_urlsafe(24)
        return token, f"admin page: {url}#token={token}"
    return None, f"admin page off: set ${TOKEN_VARIABLE} (16 characters or more) to serve it on {host}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
