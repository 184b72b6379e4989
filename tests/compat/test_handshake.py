"""neffos.js 0.1.34 against our server: the ``M`` / ``A<id>`` / ``H<text>`` handshake (PROTOCOL.md 1.3)."""

from __future__ import annotations

import pytest

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
