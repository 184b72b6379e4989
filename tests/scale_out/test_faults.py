"""Fault injection on three real nodes: the broker is killed mid-traffic and started again.

Local delivery must go on while it is down, every node must report the loss (health
false, pushed to its clients as a ``system`` event), and once the broker is back on the
same port cross-node delivery must resume without restarting any node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

from tests.scale_out.chat import ChatClient
from tests.scale_out.conftest import OpenChat, StartNodes
from tests.scale_out.processes import Broker, Gate, Node

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
        assert (await alice.ns.ask("online")).text == "4"  # every node's count, now known to a

        await broker.kill()
        assert [await client.next_json("system") for client in (alice, bob, dave)] == [{"broker": "down"}] * 3
        await traffic.flows(5)  # local delivery goes on while the broker is away
        assert (await alice.ns.ask("health")).text == "down"
        # The count answers at once from what the node knows, and says it is not current.
        assert (await alice.ns.ask("online")).text == "4 (stale)"

        # Meanwhile a user arrives on node b and Dave leaves node c: the other nodes cannot hear it.
        erin = await ChatClient.open(b.ws_url, hello=False)
        await dave.ns.disconnect()
        await broker.start()
        assert [await client.next_json("system") for client in (alice, bob)] == [{"broker": "up"}] * 2
    finally:
        await traffic.stop()
    assert (await alice.ns.ask("health")).text == "up"
    # Presence is repaired once the broker is back: node a learns both changes.
    await alice.presence("join", erin.id)
    await alice.presence("leave", dave.id)
    who = json.loads((await alice.ns.ask("who")).text)
    assert sorted(m["id"] for m in who["members"]) == sorted([alice.id, carol.id, bob.id, erin.id])

    alice.ns.emit("chat", "after restart")

    assert all(text.startswith("t") for text in await drain_until(bob, "after restart"))
    assert all(text.startswith("t") for text in await drain_until(erin, "after restart"))
    await erin.conn.close()
    assert [node.proc.pid for node in (a, b, c) if node.proc is not None] == pids
    assert all(node.proc is not None and node.proc.returncode is None for node in (a, b, c))


async def test_a_node_killed_with_sigkill_is_forgotten_and_counted_as_stale_until_then(
    start_nodes: StartNodes, chat: OpenChat
) -> None:
    a, b, c = await start_nodes(3)
    alice, bob = await chat(a), await chat(b)
    carol = await chat(c)
    await carol.join("lobby")
    await alice.presence("join", carol.id, "lobby")
    assert await alice.ask_text("online") == "3"

    await c.kill()
    right_after = await alice.ask_text("online")
    await asyncio.gather(
        a.out.wait_for(rf"node {c.node_id} went silent"), b.out.wait_for(rf"node {c.node_id} went silent")
    )

    # Before the others forget it, the dead node's last count is used and marked stale;
    # once they have, the count is current again (which of the two came first is timing).
    assert right_after in ("3 (stale)", "2")
    assert await alice.ask_text("online") == "2"
    # Presence forgets the dead node's connections: the others are told, and lists omit them.
    await alice.presence("leave", carol.id, "lobby")
    await alice.presence("leave", carol.id)
    who = json.loads(await alice.ask_text("who"))
    assert sorted(m["id"] for m in who["members"]) == sorted([alice.id, bob.id])
    alice.ns.emit("chat", "still here")
    assert (await bob.next_json("chat"))["text"] == "still here"


async def test_while_the_broker_is_down_a_node_counts_only_what_other_nodes_missed(
    start_nodes: StartNodes, chat: OpenChat, broker: Broker
) -> None:
    a, b = await start_nodes(2)
    alice, carol, bob = await chat(a), await chat(a), await chat(b)
    await alice.presence("join", bob.id)  # node a knows Bob is on node b

    await broker.kill()
    assert await alice.next_json("system") == {"broker": "down"}
    for i in range(3):
        alice.ns.emit("whisper", {"to": carol.id, "text": f"same node {i}"})
    for i in range(2):
        alice.ns.emit("whisper", {"to": bob.id, "text": f"lost {i}"})
    assert [(await carol.next_json("whisper"))["text"] for _ in range(3)] == [
        f"same node {i}" for i in range(3)
    ]
    assert await alice.ask_text("health") == "down"  # handled after the whispers
    mark = a.out.mark()
    await broker.start()

    await a.out.wait_for(r"link RESTORED after [\d.]+s \(2 messages dropped meanwhile\)", after=mark)


async def test_what_a_reconnecting_node_missed_is_counted_by_that_node(
    start_nodes: StartNodes, chat: OpenChat, broker: Broker
) -> None:
    a, c = await start_nodes(2)
    gate = Gate(broker)
    await gate.start()
    b = Node("gated")
    try:
        await b.start(gate.url)
        await asyncio.gather(*(node.out.wait_for("cluster now has 3 node") for node in (a, b, c)))
        alice, bob, carol = await chat(a), await chat(b), await chat(c)
        alice.ns.emit("chat", "before")
        assert [(await client.next_json("chat"))["text"] for client in (bob, carol)] == ["before"] * 2
        mark = b.out.mark()

        gate.cut()  # node b reconnects (and cannot) while node a goes on publishing
        await b.out.wait_for("link LOST", after=mark)
        for i in range(3):
            alice.ns.emit("chat", f"missed {i}")
        assert [(await carol.next_json("chat"))["text"] for _ in range(3)] == [
            f"missed {i}" for i in range(3)
        ]
        gate.open()  # the three are on the broker: node b was not subscribed then
        await b.out.wait_for("link RESTORED", after=mark)
        alice.ns.emit("chat", "after")

        assert (await bob.next_json("chat"))["text"] == "after"
        await b.out.wait_for(r"3 message\(s\) from other nodes missed by node \w+ since the last such line")
        assert not [line for line in a.out.lines if "dropped by" in line or "LOST" in line]
    finally:
        await b.stop()
        await gate.stop()
        if b.output is not None:
            await b.output.aclose()
