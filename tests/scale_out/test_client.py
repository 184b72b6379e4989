"""The scale-out terminal client, run as its README says (``--url``), on a node without a broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from support.sample_process import StartModule
from tests.scale_out.processes import WAIT_TIMEOUT, Node


@pytest.fixture
async def local_node() -> AsyncIterator[Node]:
    """One ``python -m samples.scale_out`` node with the local exchange (no broker)."""
    node = Node("node")
    await node.start("")
    try:
        yield node
    finally:
        await node.stop()
        if node.output is not None:
            await node.output.aclose()


async def test_client_takes_url_and_runs_commands(local_node: Node, start_module: StartModule) -> None:
    client = await start_module("samples.scale_out.client", "--url", local_node.ws_url)

    async with asyncio.timeout(WAIT_TIMEOUT):
        out, err = await client.communicate(b"/online\n/health\n/join lobby\n/who\n/quit\n")

    assert client.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("* you are ")
    assert lines[0].endswith(f" on node {local_node.node_id[:8]} (type /quit to leave)")
    me = lines[0].removeprefix("* you are ").split(" ")[0]
    who = f"* chat: {me} (node {local_node.node_id[:8]}); rooms lobby: 1"
    assert lines[1:] == ["* online: 1", "* health: up", "* joined lobby", who]
