"""Fixtures of the scale-out suite: a fresh broker per test (Redis and NATS), nodes, chat clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from aioneffos.framework import Conn
from support.sample_process import start_module  # noqa: F401 (the terminal client, for test_client)
from tests.browser.conftest import browser, open_page  # noqa: F401 (Chromium fixtures for test_page)
from tests.scale_out.chat import ChatClient
from tests.scale_out.processes import Broker, Node

StartNodes = Callable[[int], Awaitable[list[Node]]]
OpenChat = Callable[..., Awaitable[ChatClient]]


@pytest.fixture(params=["redis", "nats"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    """A real broker process of its own, on a free port, gone after the test."""
    started = Broker(request.param)
    await started.start()
    try:
        yield started
    finally:
        await started.kill()
        if started.output is not None:
            await started.output.aclose()


@pytest.fixture
async def start_nodes(broker: Broker) -> AsyncIterator[StartNodes]:
    """Start *n* sample nodes on the broker and wait until each one knows all the others."""
    nodes: list[Node] = []

    async def start(count: int) -> list[Node]:
        group = [Node(f"node{len(nodes) + i + 1}") for i in range(count)]
        nodes.extend(group)
        await asyncio.gather(*(node.start(broker.url) for node in group))
        total = len(nodes)
        if total > 1:
            await asyncio.gather(*(node.out.wait_for(rf"cluster now has {total} node") for node in nodes))
        return group

    try:
        yield start
    finally:
        await asyncio.gather(*(node.stop() for node in nodes), return_exceptions=True)
        for node in nodes:
            if node.output is not None:
                print(node.output.tail(60))  # shown by pytest when the test fails
                await node.output.aclose()


@pytest.fixture
async def chat() -> AsyncIterator[OpenChat]:
    """Open a Python `ChatClient` to a node (connected and welcomed); closed at teardown."""
    opened: list[Conn] = []

    async def open_chat(node: Node, **options: Any) -> ChatClient:
        client = await ChatClient.open(node.ws_url, **options)
        opened.append(client.conn)
        return client

    try:
        yield open_chat
    finally:
        await asyncio.gather(*(conn.close() for conn in opened), return_exceptions=True)
