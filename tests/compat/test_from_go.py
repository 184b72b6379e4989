"""neffos.js 0.1.34 under what a port from Go does on the server: ``await server.do(...)`` with
a coroutine, ``conn.disconnect_all()``, and a server-side connect met by ``waitServerConnect``
(neffos ``_examples/example``'s "force disconnect" and force-connect flows)."""

from __future__ import annotations

import pytest

from aioneffos.framework import Conn, Server
from compat.node_client import RECORD, NodeDriver
from compat.server_probe import counting_ids

pytestmark = pytest.mark.compat


async def test_server_do_disconnect_all_disconnects_every_neffos_js_namespace(
    serve, driver: NodeDriver
) -> None:
    server = Server({"chat": {}, "news": {}}, id_generator=counting_ids())
    url = await serve(server)
    events = {"_OnNamespaceDisconnect": RECORD}
    clients = [await driver.dial(url, {"chat": events, "news": events}) for _ in range(2)]
    for client in clients:
        await client.connect("chat")
        await client.connect("news")

    await server.do(lambda conn: conn.disconnect_all())

    for client in clients:
        seen = {(await client.wait_for("_OnNamespaceDisconnect")).namespace for _ in range(2)}
        assert seen == {"chat", "news"}
        assert (await client.state()).namespaces == {}
    assert list(server.namespace_connections("chat")) == list(server.namespace_connections("news")) == []


async def test_server_connect_from_on_connect_meets_wait_server_connect(serve, driver: NodeDriver) -> None:
    async def on_connect(conn: Conn) -> None:
        ns = await conn.connect("default")
        ns.emit("chat", "(Force-connected by server)")

    url = await serve(Server({"default": {}}, on_connect=on_connect))
    client = await driver.dial(url, {"default": {"chat": RECORD}})

    await client.wait_server_connect("default")

    assert (await client.wait_for("chat")).body == "(Force-connected by server)"
