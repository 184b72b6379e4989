"""neffos.js 0.1.34 against our server: binary frames and native messages.

See docs/protocol.md#frame-types and docs/protocol.md#native-messages."""

from __future__ import annotations

import pytest

from aioneffos.framework import Message, NSConn, Reply, Server
from compat.node_client import RECORD, NodeConn, NodeDriver
from compat.server_probe import Probe, counting_ids

pytestmark = pytest.mark.compat

DATA = b"hi;\x00\xff\x01;;;;;;end"
"""Bytes a text frame cannot carry, and more separators than a header has."""


def echo(ns: NSConn, msg: Message) -> Reply:
    return Reply(msg.body)


async def connected(driver: NodeDriver, url: str, events: dict[str, str] | None = None) -> NodeConn:
    client = await driver.dial(url, {"default": events or {}})
    await client.connect("default")
    return client


async def test_binary_emit_reaches_the_handler_with_the_exact_bytes(
    serve, driver: NodeDriver, probe: Probe
) -> None:
    client = await connected(driver, await serve(Server({"default": probe.events("bin")})))

    assert await client.emit_binary("default", "bin", DATA)

    call = await probe.next("bin")
    assert (call.body, call.is_binary, call.namespace, call.wait) == (DATA, True, "default", "")


async def test_value_returned_for_a_binary_emit_comes_back_binary(serve, driver: NodeDriver) -> None:
    client = await connected(driver, await serve(Server({"default": {"bin": echo}})), {"bin": RECORD})

    assert await client.emit_binary("default", "bin", DATA)

    msg = await client.wait_for("bin")
    assert (msg.body, msg.binary, msg.set_binary, msg.wait) == (DATA, True, True, "")


async def test_binary_ask_gets_a_binary_reply_with_the_exact_bytes(serve, driver: NodeDriver) -> None:
    client = await connected(driver, await serve(Server({"default": {"bin": echo}})))

    answer = await client.ask_binary("default", "bin", DATA)

    assert (answer.body, answer.binary, answer.set_binary, answer.event) == (DATA, True, True, "bin")


async def test_server_binary_emit_reaches_the_client_as_bytes(serve, driver: NodeDriver) -> None:
    server = Server({"default": {}}, id_generator=counting_ids())
    client = await connected(driver, await serve(server), {"pushedbin": RECORD})
    conn = server.connection("conn-1")
    assert conn is not None
    ns = conn.namespace("default")
    assert ns is not None

    ns.emit_binary("pushedbin", b"\x00\x01;\xff")

    msg = await client.wait_for("pushedbin")
    assert (msg.body, msg.binary, msg.set_binary, msg.namespace) == (b"\x00\x01;\xff", True, True, "default")


async def test_native_message_reaches_the_server_native_handler(
    serve, driver: NodeDriver, probe: Probe
) -> None:
    # "default" keeps the server out of native-only mode, which neffos.js cannot use (1.4).
    server = Server({"": probe.events("_OnNativeMessage"), "default": {}}, id_generator=counting_ids())
    client = await driver.dial(await serve(server), {"": {"_OnNativeMessage": RECORD}})
    await client.connect("")

    assert await client.write_native("raw; hello")

    call = await probe.next("_OnNativeMessage")
    assert (call.conn_id, call.namespace, call.event) == ("conn-1", "", "_OnNativeMessage")
    assert (call.body, call.is_native, call.wait) == (b"raw; hello", True, "")


async def test_native_reply_reaches_neffos_js_in_the_seven_field_form(serve, driver: NodeDriver) -> None:
    def native_echo(ns: NSConn, msg: Message) -> bytes:
        return b"native-echo:" + msg.body

    server = Server({"": {"_OnNativeMessage": native_echo}, "default": {}})
    client = await driver.dial(await serve(server), {"": {"_OnNativeMessage": RECORD}}, trace=True)
    await client.connect("")

    assert await client.write_native("raw hello")

    # neffos.js drops raw frames; only ";;;_OnNativeMessage;0;0;<body>" reaches it
    # (docs/protocol.md#native-messages).
    frame = await client.next_event("frame", lambda e: "native-echo" in str(e.data["data"]))
    assert (frame.data["data"], frame.data["binary"]) == (
        ";;;_OnNativeMessage;0;0;native-echo:raw hello",
        False,
    )
    msg = await client.wait_for("_OnNativeMessage")
    assert (msg.body, msg.namespace, msg.is_native) == ("native-echo:raw hello", "", True)
