"""Upgrade headers and neffos.js reconnection against our server.

See docs/protocol.md#http-upgrade and docs/protocol.md#reconnection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import attrs
import pytest
from aiohttp import web

from aioneffos.framework import Conn, Message, NSConn, Server, get_request, handler, setup
from compat.node_client import NodeDriver
from compat.server_probe import TIMEOUT, Probe, counting_ids
from support.tools import free_port

pytestmark = pytest.mark.compat


def whoami(ns: NSConn, msg: Message) -> str:
    return get_request(ns.conn).headers.get("X-Username", "<none>")


async def test_neffos_js_on_node_sends_headers_as_http_headers(serve, driver: NodeDriver) -> None:
    server = Server({"default": {"whoami": whoami}}, id_generator=counting_ids())
    client = await driver.dial(await serve(server), {"default": {}}, headers={"X-Username": "alice"})
    await client.connect("default")

    assert (await client.ask("default", "whoami")).body == "alice"
    conn = server.connection("conn-1")
    assert conn is not None
    request = get_request(conn)
    assert (request.headers["X-Username"], dict(request.query)) == ("alice", {})


async def test_browser_style_query_parameters_become_request_headers(serve) -> None:
    server = Server({"default": {"whoami": whoami}}, id_generator=counting_ids())
    url = await serve(server)

    # What neffos.js does in a browser, which cannot set websocket headers (1.1).
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}?X-Websocket-Header-X-Username=alice") as ws,
    ):
        await ws.send_str("M")
        assert await ws.receive_str(timeout=TIMEOUT) == "Aconn-1"
        await ws.send_str("$1;default;;_OnNamespaceConnect;0;0;")
        assert await ws.receive_str(timeout=TIMEOUT) == "$1;;;;;;"
        await ws.send_str("$2;default;;whoami;0;0;")
        assert await ws.receive_str(timeout=TIMEOUT) == "$2;default;;whoami;0;0;alice"
        conn = server.connection("conn-1")
        assert conn is not None
        assert get_request(conn).headers["X-Username"] == "alice"


@attrs.define(eq=False)
class Deployment:
    """One aiohttp app serving a fresh `Server` on a fixed port; records the HEAD probes."""

    name: str
    server: Server
    runner: web.AppRunner
    site: web.TCPSite
    heads: list[int]


@contextlib.asynccontextmanager
async def deployments(port: int, probe: Probe) -> AsyncIterator[Callable[[str], Awaitable[Deployment]]]:
    """Start named deployments on *port*; every one still running is cleaned up on exit."""
    started: list[Deployment] = []

    async def start(name: str) -> Deployment:
        def echo(ns: NSConn, msg: Message) -> bytes:
            return f"{name}: ".encode() + msg.body

        def on_connect(conn: Conn) -> None:
            probe.record_conn("on_connect", conn)

        server = Server(
            {"default": {**probe.events("_OnNamespaceConnected", "_OnRoomJoined"), "echo": echo}},
            on_connect=on_connect,
            id_generator=counting_ids(f"{name}-"),
        )
        upgrade = handler(server)
        heads: list[int] = []

        async def route(request: web.Request) -> web.StreamResponse:
            response = await upgrade(request)
            if request.method == "HEAD":
                heads.append(response.status)
            return response

        app = web.Application()
        app.router.add_get("/ws", route)  # also answers HEAD
        setup(app, server)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        deployment = Deployment(name, server, runner, site, heads)
        started.append(deployment)
        return deployment

    try:
        yield start
    finally:
        for deployment in reversed(started):
            if deployment.runner.server is not None:  # not cleaned up by the test itself
                await deployment.runner.cleanup()


async def test_neffos_js_reconnects_to_a_new_server_and_restores_namespace_and_room(
    driver: NodeDriver, probe: Probe
) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    async with deployments(port, probe) as start:
        old = await start("old")
        client = await driver.dial(url, {"default": {}}, reconnect=200)
        await client.connect("default")
        await client.join_room("default", "rr")
        await probe.next("_OnRoomJoined", conn_id="old-1")

        # A rolling restart: the new server listens on the port before the old one shuts
        # down, so the probe neffos.js sends 200 ms after the close finds it at once.
        await old.site.stop()
        new = await start("new")
        await old.runner.cleanup()

        closed = await client.wait_closed()
        assert (closed.data["connId"], closed.data["code"], closed.data["reason"]) == (
            "old-1",
            1001,
            "server shutdown",
        )
        reconnected = await client.wait_reconnected()
        assert (reconnected.data["connId"], reconnected.data["reconnectTries"]) == ("new-1", 1)
        assert (old.heads, new.heads) == ([], [204])

        hello = await probe.next("on_connect", conn_id="new-1")
        assert hello.reconnect_tries == 1
        conn = new.server.connection("new-1")
        assert conn is not None
        assert (conn.was_reconnected, get_request(conn).headers["X-Websocket-Reconnect"]) == (True, "1")
        assert (await probe.next("_OnNamespaceConnected", conn_id="new-1")).reconnect_tries == 1
        assert (await probe.next("_OnRoomJoined", conn_id="new-1")).room == "rr"
        await client.wait_for("_OnRoomJoined", where=lambda m: m.conn_id == "new-1")
        ns = conn.namespace("default")
        assert ns is not None
        assert list(ns.rooms) == ["rr"]
        state = await client.state()
        assert (state.id, state.reconnect_tries, state.namespaces) == ("new-1", 1, {"default": ["rr"]})
        assert (await client.ask("default", "echo", "again")).body == "new: again"
