"""samples/basic: its handler in memory (`aioneffos.testing`), and the sample started with
``python -m samples.basic`` and driven by its clients (the Python module, neffos.js)."""

from __future__ import annotations

import asyncio

import pytest

from aioneffos.framework import Message, NSConn, RemoteError, dial
from aioneffos.testing import Clients, Recorder
from compat.node_client import RECORD, CommandError, NodeDriver
from samples.basic.server import make_app
from support.sample_process import StartModule, StartSample

NS = "/v1"
PARSE_ERROR = "time data 'nope' does not match format '%m-%d-%Y'"
TIMEOUT = 10.0


async def test_basic_workday_replies_to_the_python_client(neffos_client: Clients) -> None:
    conn = await neffos_client(make_app())
    v1 = await conn.connect(NS)

    answers = [(await v1.ask("workday", day)).text for day in ("06-24-2019", "06-29-2019")]

    assert answers == ["it's Monday, do your job.", "day off"]


async def test_basic_bad_dates_get_error_replies_and_a_notify(neffos_client: Clients) -> None:
    rec = Recorder()
    conn = await neffos_client(make_app(), rec)
    v1 = await conn.connect(NS)
    errors: list[str] = []

    for _ in range(4):
        with pytest.raises(RemoteError) as caught:
            await v1.ask("workday", "nope")
        errors.append(caught.value.text)
    # The 4th miss also emits "notify"; a reply may overtake it (docs/protocol.md#reply-order).
    nudge = await rec.next("notify")

    assert errors == [PARSE_ERROR, PARSE_ERROR, "Why not try this one? 06-24-2019", PARSE_ERROR]
    assert (nudge.text, len(rec.all("notify"))) == ("What are you doing?", 1)


async def test_basic_notify_broadcast_reaches_python_and_neffos_js_clients(
    start_sample: StartSample, driver: NodeDriver
) -> None:
    sample = await start_sample("basic", "--notify-every", "0.25")
    received: asyncio.Queue[str] = asyncio.Queue()

    async def on_notify(ns: NSConn, msg: Message) -> None:
        received.put_nowait(msg.text)

    conn = await dial(sample.ws_url, {NS: {"notify": on_notify}})
    browser_like = await driver.dial(sample.ws_url, {NS: {"notify": RECORD}})
    try:
        await conn.connect(NS)
        await browser_like.connect(NS)
        from_node = await browser_like.wait_for("notify", ns=NS, timeout=TIMEOUT)
        async with asyncio.timeout(TIMEOUT):
            from_python = await received.get()
    finally:
        await conn.close()

    for text in (from_node.text, from_python):
        assert text.startswith("server is up and running for ")
        assert text.endswith(" seconds")


async def test_basic_neffos_js_gets_the_reply_and_the_error_text(
    start_sample: StartSample, driver: NodeDriver
) -> None:
    sample = await start_sample("basic")
    client = await driver.dial(sample.ws_url, {NS: {}})
    await client.connect(NS)

    reply = await client.ask(NS, "workday", "06-24-2019")
    with pytest.raises(CommandError) as caught:
        await client.ask(NS, "workday", "nope")

    assert (reply.text, reply.event, reply.namespace) == ("it's Monday, do your job.", "workday", NS)
    assert (caught.value.message, caught.value.error_type) == (PARSE_ERROR, "Error")


async def test_basic_python_client_module_answers_typed_dates(
    start_sample: StartSample, start_module: StartModule
) -> None:
    sample = await start_sample("basic")
    client = await start_module("samples.basic.client", "--url", sample.ws_url)

    async with asyncio.timeout(TIMEOUT):
        out, err = await client.communicate(b"06-24-2019\n\n06-29-2019\nnope\n")

    assert client.returncode == 0, err.decode()
    assert out.decode().splitlines() == [
        "Please specify a date of format: mm-dd-yyyy",
        "it's Monday, do your job.",
        "day off",
        f"error received: {PARSE_ERROR}",
    ]


async def test_basic_ctrl_c_closes_clients_with_1001_and_exits_0(
    start_sample: StartSample, driver: NodeDriver
) -> None:
    sample = await start_sample("basic")
    client = await driver.dial(sample.ws_url, {NS: {}})
    await client.connect(NS)

    code = await sample.stop()
    closed = await client.wait_closed(timeout=TIMEOUT)

    assert (code, closed.data["code"], closed.data["reason"]) == (0, 1001, "server shutdown")
    assert "Traceback" not in sample.output


async def test_basic_taken_port_is_a_one_line_error(
    start_sample: StartSample, start_module: StartModule
) -> None:
    sample = await start_sample("basic")
    second = await start_module("samples.basic", "--port", str(sample.port))
    async with asyncio.timeout(TIMEOUT):
        out, err = await second.communicate()

    assert (second.returncode, out) == (1, b"")
    hint = f"try another port: --port {sample.port + 1}"
    assert err.decode() == f"cannot listen on 127.0.0.1:{sample.port}: address already in use ({hint})\n"
