"""samples/request_response, started with ``python -m samples.request_response``: polls with timeouts."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from aioneffos.framework import Conn, dial
from compat.node_client import RECORD, NodeDriver, reply
from samples.request_response.client import question_events
from support.sample_process import SampleProcess, StartModule, StartSample

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


async def test_request_response_poll_without_clients_has_no_answers(start_sample: StartSample) -> None:
    sample = await start_sample("request_response")

    result = await poll(sample, "Anyone?", 0.2)

    assert result["answers"] == []


@pytest.mark.parametrize("body", [{"question": ""}, {"question": "x", "timeout": 0}, {"timeout": 1}])
async def test_request_response_bad_poll_is_a_400(start_sample: StartSample, body: dict[str, Any]) -> None:
    sample = await start_sample("request_response")
    async with aiohttp.ClientSession() as session, session.post(sample.url + "ask", json=body) as response:
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
