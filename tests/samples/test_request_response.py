"""samples/request_response: polls with timeouts. The poll over Python clients in memory
(`aioneffos.testing`) and its HTTP endpoint on pytest-aiohttp; Python and neffos.js clients,
and the terminal client, against the sample started as ``python -m samples.request_response``."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from aioneffos.framework import SERVER_KEY, Conn, dial
from aioneffos.testing import Clients
from compat.node_client import RECORD, NodeDriver, reply
from samples.request_response.client import question_events
from samples.request_response.server import ask_everyone, make_app
from support.sample_process import SampleProcess, StartModule, StartSample

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]

NS = "default"
TIMEOUT = 10.0


@pytest.fixture
async def participants() -> AsyncIterator[Any]:
    """Give ``await join(url, name, **behaviour)``: a Python participant, closed at teardown."""
    opened: list[Conn] = []

    async def join(url: str, name: str, **behaviour: Any) -> Conn:
        conn = await dial(url, {NS: question_events(name, **behaviour)}, headers={"X-Username": name})
        opened.append(conn)
        await conn.connect(NS)
        return conn

    yield join
    for conn in opened:
        await conn.close()


async def poll(sample: SampleProcess, question: str, timeout: float) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(sample.url + "ask", json={"question": question, "timeout": timeout}) as response,
    ):
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def test_request_response_reports_answers_refusals_and_timeouts(
    start_sample: StartSample, participants, driver: NodeDriver
) -> None:
    sample = await start_sample("request_response")
    await participants(sample.ws_url, "alice", answer="yes")
    await participants(sample.ws_url, "bob", refuse=True)
    await participants(sample.ws_url, "carol", delay=2.0)
    for name, behaviour in (("dave", reply("from node")), ("erin", RECORD)):
        client = await driver.dial(sample.ws_url, {NS: {"question": behaviour}}, headers={"X-Username": name})
        await client.connect(NS)

    result = await poll(sample, "Lunch?", 0.3)

    assert result["answers"] == [
        {"client": "alice", "status": "answered", "text": "yes"},
        {"client": "bob", "status": "refused", "text": "bob would rather not say"},
        {"client": "carol", "status": "timed out", "text": ""},
        {"client": "dave", "status": "answered", "text": "from node"},
        {"client": "erin", "status": "timed out", "text": ""},
    ]
    assert (result["question"], result["timeout"]) == ("Lunch?", 0.3)
    assert result["elapsed"] < 1.8  # the poll's own timeout, not carol's 2 s


async def test_request_response_poll_gathers_answers_refusals_and_timeouts(neffos_client: Clients) -> None:
    app = make_app()
    behaviours: dict[str, dict[str, Any]] = {"alice": {"answer": "yes"}, "bob": {"refuse": True}}
    behaviours["carol"] = {"delay": 10 * TIMEOUT}  # answers long after the poll's timeout
    for name, behaviour in behaviours.items():
        conn = await neffos_client(
            app, {NS: question_events(name, **behaviour)}, headers={"X-Username": name}
        )
        await conn.connect(NS)

    answers = await ask_everyone(app[SERVER_KEY], "Lunch?", 0.3)

    assert [attrs.asdict(answer) for answer in answers] == [
        {"client": "alice", "status": "answered", "text": "yes"},
        {"client": "bob", "status": "refused", "text": "bob would rather not say"},
        {"client": "carol", "status": "timed out", "text": ""},
    ]


async def test_request_response_poll_without_clients_has_no_answers(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(make_app())

    async with client.post("/ask", json={"question": "Anyone?", "timeout": 0.2}) as response:
        result = await response.json()

    assert (response.status, result["answers"]) == (200, [])


@pytest.mark.parametrize("body", [{"question": ""}, {"question": "x", "timeout": 0}, {"timeout": 1}])
async def test_request_response_bad_poll_is_a_400(
    aiohttp_client: AiohttpClient, body: dict[str, Any]
) -> None:
    client = await aiohttp_client(make_app())

    async with client.post("/ask", json=body) as response:
        status = response.status

    assert status == 400


async def start_client(
    start_module: StartModule, sample: SampleProcess, *args: str
) -> asyncio.subprocess.Process:
    process = await start_module(
        "samples.request_response.client", "--url", sample.ws_url, *args, merge_stderr=True
    )
    assert process.stdout is not None
    async with asyncio.timeout(TIMEOUT):
        ready = (await process.stdout.readline()).decode()
    assert ready.startswith("connected as "), ready
    return process


async def next_line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    async with asyncio.timeout(TIMEOUT):
        return (await process.stdout.readline()).decode().rstrip("\n")


async def stop_client(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(TIMEOUT):
        return await process.wait()


async def test_request_response_client_module_answers_the_poll(
    start_sample: StartSample, start_module: StartModule
) -> None:
    sample = await start_sample("request_response")
    client = await start_client(start_module, sample, "--name", "frank", "--answer", "no")

    result = await poll(sample, "Lunch?", 5.0)
    printed = await next_line(client)
    code = await stop_client(client)

    assert result["answers"] == [{"client": "frank", "status": "answered", "text": "no"}]
    assert (printed, code) == ("asked: Lunch?", 0)


async def test_request_response_late_client_times_out_then_answers_the_next_poll(
    start_sample: StartSample, start_module: StartModule
) -> None:
    sample = await start_sample("request_response")
    client = await start_client(start_module, sample, "--name", "slow", "--delay", "0.6")

    late = await poll(sample, "Quick?", 0.2)
    in_time = await poll(sample, "Slowly?", 5.0)
    lines = [await next_line(client), await next_line(client)]
    await stop_client(client)

    assert late["answers"] == [{"client": "slow", "status": "timed out", "text": ""}]
    # The late answer to "Quick?" is dropped by the server: the client hears nothing back.
    assert lines == ["asked: Quick?", "asked: Slowly?"]
    assert in_time["answers"] == [{"client": "slow", "status": "answered", "text": "yes"}]
