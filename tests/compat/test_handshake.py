"""neffos.js 0.1.34 against our server: the ``M`` / ``A<id>`` / ``H<text>`` handshake.

See docs/protocol.md#handshake."""

from __future__ import annotations

import pytest
from aiohttp import web

from aioneffos.framework import Conn, Server
from compat.node_client import CommandError, NodeDriver
from compat.server_probe import Probe, counting_ids

pytestmark = pytest.mark.compat


async def test_dial_resolves_with_the_id_the_server_assigned(serve, driver: NodeDriver, probe: Probe) -> None:
    server = Server(
        {"default": {}},
        id_generator=counting_ids("user-"),
        on_connect=lambda conn: probe.record_conn("on_connect", conn),
    )
    url = await serve(server)

    first = await driver.dial(url, {"default": {}})
    second = await driver.dial(url, {"default": {}})

    assert (first.id, second.id) == ("user-1", "user-2")
    assert [c.conn_id for c in probe.seen("on_connect")] == ["user-1", "user-2"]
    assert (await first.state()).id == "user-1"
    conn = server.connection("user-1")
    assert conn is not None
    assert (conn.id, conn.is_acknowledged) == ("user-1", True)


async def test_on_connect_refusal_rejects_dial_with_the_raised_text(serve, driver: NodeDriver) -> None:
    def refuse(conn: Conn) -> None:
        raise PermissionError("rejected; by server")

    url = await serve(Server({"default": {}}, on_connect=refuse))

    with pytest.raises(CommandError) as info:
        await driver.dial(url, {"default": {}})
    assert (info.value.message, info.value.error_type) == ("rejected; by server", "Error")


async def test_server_keeps_serving_after_refusing_a_client(serve, driver: NodeDriver) -> None:
    def refuse_first(conn: Conn) -> None:
        if conn.id == "conn-1":
            raise PermissionError("go away")

    server = Server(
        {"default": {"echo": lambda ns, msg: msg.body}},
        on_connect=refuse_first,
        id_generator=counting_ids(),
    )
    url = await serve(server)

    with pytest.raises(CommandError, match="go away"):
        await driver.dial(url, {"default": {}})
    client = await driver.dial(url, {"default": {}})
    await client.connect("default")

    assert client.id == "conn-2"
    assert (await client.ask("default", "echo", "still here")).body == "still here"


async def test_upgrade_refused_by_the_id_generator_rejects_dial_with_the_http_status(
    serve, driver: NodeDriver
) -> None:
    def forbid(request: web.Request) -> str:
        raise web.HTTPForbidden()

    url = await serve(Server({"default": {}}, id_generator=forbid))

    # A refused upgrade is a socket error for neffos.js: dial rejects with the `ws` ErrorEvent
    # and, unlike an H refusal, a reconnecting client stops for good (docs/protocol.md#refusal).
    with pytest.raises(CommandError) as info:
        await driver.dial(url, {"default": {}}, reconnect=200)
    assert (info.value.message, info.value.error_type) == ("Unexpected server response: 403", "ErrorEvent")


async def test_client_close_ends_the_server_side_with_forced_events(
    serve, driver: NodeDriver, probe: Probe
) -> None:
    server = Server(
        {"default": probe.events("_OnRoomLeft", "_OnNamespaceDisconnect")},
        on_disconnect=lambda conn: probe.record_conn("on_disconnect", conn),
        id_generator=counting_ids(),
    )
    client = await driver.dial(await serve(server), {"default": {}})
    await client.connect("default")
    await client.join_room("default", "r1")

    await client.close()

    left = await probe.next("_OnRoomLeft")
    gone = await probe.next("_OnNamespaceDisconnect")
    assert (left.conn_id, left.room, left.is_forced, left.is_local) == ("conn-1", "r1", True, True)
    assert (gone.conn_id, gone.is_forced, gone.is_local) == ("conn-1", True, True)
    assert (await probe.next("on_disconnect")).conn_id == "conn-1"
    assert server.connection("conn-1") is None


async def test_server_close_of_a_connection_reaches_neffos_js_with_its_code(
    serve, driver: NodeDriver
) -> None:
    server = Server({"default": {}}, id_generator=counting_ids())
    client = await driver.dial(await serve(server), {"default": {}})
    await client.connect("default")
    conn = server.connection("conn-1")
    assert conn is not None

    await conn.close(4000, "kicked")

    closed = await client.wait_closed()
    assert (closed.data["code"], closed.data["reason"], closed.data["wasClean"]) == (4000, "kicked", True)
    # Without reconnect, neffos.js closes its Conn and fires the forced local events (4.4).
    gone = await client.wait_for("_OnNamespaceDisconnect")
    assert (gone.is_forced, gone.is_local) == (True, True)
    assert (await client.state()).is_closed
