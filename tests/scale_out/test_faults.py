"""Fault injection on three real nodes: the broker is killed mid-traffic and started again.

Local delivery must go on while it is down, every node must report the loss (health
false, pushed to its clients as a ``system`` event), and once the broker is back on the
same port cross-node delivery must resume without restarting any node.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.scale_out.chat import ChatClient
from tests.scale_out.conftest import OpenChat, StartNodes
from tests.scale_out.processes import Broker

pytestmark = pytest.mark.broker


class Traffic:
    """Alice chats without pause; each message waits for Carol (same node) to receive it."""

    def __init__(self, alice: ChatClient, carol: ChatClient) -> None:
        self.alice, self.carol = alice, carol
        self.delivered = 0
        self._progress = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            text = f"t{self.delivered}"
            self.alice.ns.emit("chat", text)
            got = await self.carol.next_json("chat")
            assert got == {"from": self.alice.id, "text": text}
            async with self._progress:
                self.delivered += 1
                self._progress.notify_all()

    async def flows(self, more: int) -> None:
        """Wait until *more* messages were delivered locally from now on."""
        target = self.delivered + more
        async with asyncio.timeout(20), self._progress:
            await self._progress.wait_for(lambda: self.delivered >= target or self._task.done())
        if self._task.done():
            self._task.result()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def drain_until(client: ChatClient, text: str) -> list[str]:
    """Take chats until one with *text*; give the texts taken before it."""
    before = []
    while (got := await client.next_json("chat"))["text"] != text:
        before.append(got["text"])
    return before


async def test_broker_killed_mid_traffic_local_goes_on_and_cluster_resumes_after_restart(
    start_nodes: StartNodes, chat: OpenChat, broker: Broker
) -> None:
    a, b, c = await start_nodes(3)
    pids = [node.proc.pid for node in (a, b, c) if node.proc is not None]
    alice, carol, bob, dave = await chat(a), await chat(a), await chat(b), await chat(c)
    traffic = Traffic(alice, carol)
    try:
        await traffic.flows(5)

        await broker.kill()
        assert [await client.next_json("system") for client in (alice, bob, dave)] == [{"broker": "down"}] * 3
        await traffic.flows(5)  # local delivery goes on while the broker is away
        assert (await alice.ns.ask("health")).text == "down"

        await broker.start()
        assert [await client.next_json("system") for client in (alice, bob, dave)] == [{"broker": "up"}] * 3
    finally:
        await traffic.stop()
    assert (await alice.ns.ask("health")).text == "up"

    alice.ns.emit("chat", "after restart")

    assert all(text.startswith("t") for text in await drain_until(bob, "after restart"))
    assert all(text.startswith("t") for text in await drain_until(dave, "after restart"))
    assert [node.proc.pid for node in (a, b, c) if node.proc is not None] == pids
    assert all(node.proc is not None and node.proc.returncode is None for node in (a, b, c))
