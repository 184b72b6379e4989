"""neffos.js 0.1.34 against our server: emit, ask, error replies and broadcasts.

See docs/protocol.md#asks and docs/protocol.md#broadcast."""

from __future__ import annotations

import asyncio

import pytest

from aioneffos.framework import Message, NSConn, Server
from compat.node_client import RECORD, CommandError, NodeConn, NodeDriver
from compat.server_probe import Probe, counting_ids

pytestmark = pytest.mark.compat


def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


def fail(ns: NSConn, msg: Message) -> None:
    raise ValueError("custom; failure")


async def connected(driver: NodeDriver, url: str, events: dict[str, str] | None = None) -> NodeConn:
    client = await driver.dial(url, {"default": events or {}})
    await client.connect("default")
    return client


async def test_client_emit_reaches_the_server_handler_with_the_exact_body(
    serve, driver: NodeDriver, probe: Probe
) -> None:
    url = await serve(Server({"default": probe.events("chat")}, id_generator=counting_ids()))
    client = await connected(driver, url)

    assert await client.emit("default", "chat", "hello; world")

    call = await probe.next("chat")
    assert (call.conn_id, call.namespace, call.room, call.event) == ("conn-1", "default", "", "chat")
    assert (call.body, call.wait, call.is_binary) == (b"hello; world", "", False)


async def test_server_emit_reaches_the_client_handler(serve, driver: NodeDriver) -> None:
    server = Server({"default": {}}, id_generator=counting_ids())
    client = await connected(driver, await serve(server), {"pushed": RECORD})
    conn = server.connection("conn-1")
    assert conn is not None
    ns = conn.namespace("default")
    assert ns is not None

    ns.emit("pushed", "hello; world")

    msg = await client.wait_for("pushed")
    assert (msg.namespace, msg.room, msg.body, msg.wait) == ("default", "", "hello; world", "")
    assert (msg.binary, msg.is_local, msg.is_error) == (False, False, False)


async def test_ask_resolves_with_the_handler_reply(serve, driver: NodeDriver) -> None:
    client = await connected(driver, await serve(Server({"default": {"echo": echo}})))

    answer = await client.ask("default", "echo", "ping;1")

    assert (answer.namespace, answer.room, answer.event) == ("default", "", "echo")
    assert (answer.body, answer.binary, answer.is_error) == ("ping;1", False, False)


async def test_ask_rejects_with_the_text_the_handler_raised(serve, driver: NodeDriver) -> None:
    client = await connected(driver, await serve(Server({"default": {"fail": fail}})))

    with pytest.raises(CommandError) as info:
        await client.ask("default", "fail", "x")

    assert (info.value.message, info.value.error_type) == ("custom; failure", "Error")


async def test_ask_of_a_handler_returning_none_resolves_with_an_empty_body(
    serve, driver: NodeDriver, probe: Probe
) -> None:
    client = await connected(driver, await serve(Server({"default": probe.events("quiet")})))

    answer = await client.ask("default", "quiet", "anyone?")

    # The empty reply "<tok>;;;;;;" (docs/protocol.md#unanswered-asks): only the token is set.
    assert (answer.namespace, answer.room, answer.event, answer.body) == ("", "", "", "")
    assert (answer.is_error, answer.err) == (False, None)
    assert (await probe.next("quiet")).body == b"anyone?"


async def test_ask_of_an_unknown_event_rejects_with_unknown_event(serve, driver: NodeDriver) -> None:
    client = await connected(driver, await serve(Server({"default": {"echo": echo}})))

    with pytest.raises(CommandError) as info:
        await client.ask("default", "nothing")

    assert info.value.message == "unknown event 'nothing'"


async def test_connection_stays_usable_after_a_handler_raised(serve, driver: NodeDriver) -> None:
    client = await connected(driver, await serve(Server({"default": {"fail": fail, "echo": echo}})))

    with pytest.raises(CommandError, match="custom; failure"):
        await client.ask("default", "fail")
    answer = await client.ask("default", "echo", "still alive")

    assert answer.body == "still alive"
    assert (await client.state()).is_closed is False


async def test_error_raised_for_a_plain_emit_fires_the_client_event_with_the_error(
    serve, driver: NodeDriver
) -> None:
    client = await connected(driver, await serve(Server({"default": {"fail": fail}})), {"fail": RECORD})

    assert await client.emit("default", "fail", "not an ask")

    # Sent back with an empty wait, as neffos does (docs/protocol.md#replies).
    msg = await client.wait_for("fail")
    assert (msg.is_error, msg.err, msg.wait, msg.namespace) == (True, "custom; failure", "", "default")


async def test_value_returned_for_a_plain_emit_comes_back_as_that_event(serve, driver: NodeDriver) -> None:
    def greet(ns: NSConn, msg: Message) -> str:
        return f"hello, {msg.text}"

    client = await connected(driver, await serve(Server({"default": {"greet": greet}})), {"greet": RECORD})

    assert await client.emit("default", "greet", "bob")

    msg = await client.wait_for("greet")
    assert (msg.body, msg.wait, msg.is_error) == ("hello, bob", "", False)


async def test_broadcast_to_others_skips_the_sender(serve, driver: NodeDriver) -> None:
    def shout(ns: NSConn, msg: Message) -> None:
        ns.broadcast("shout", msg.body, exclude_self=True)
        ns.emit("marker", "after the shout")  # queued behind anything the sender would get

    url = await serve(Server({"default": {"shout": shout}}))
    events = {"shout": RECORD, "marker": RECORD}
    sender, first, second = [await connected(driver, url, events) for _ in range(3)]

    assert await sender.emit("default", "shout", "hi all; bye")

    got = await asyncio.gather(first.wait_for("shout"), second.wait_for("shout"))
    assert [(m.body, m.namespace, m.wait) for m in got] == [("hi all; bye", "default", "")] * 2
    assert (await sender.wait_for("marker")).body == "after the shout"
    assert [m.handler for m in sender.messages() if m.handler in events] == ["marker"]


async def test_frame_over_the_size_limit_closes_the_connection_with_1009(serve, driver: NodeDriver) -> None:
    client = await connected(driver, await serve(Server({"default": {"echo": echo}}, max_message_size=1024)))

    assert await client.emit("default", "echo", "x" * 2048)

    closed = await client.wait_closed()
    assert (closed.data["code"], closed.data["wasClean"]) == (1009, True)
