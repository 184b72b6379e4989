"""Three real sample nodes on one Redis or NATS: every chat feature crosses nodes, end to end.

Each test gets its own broker and nodes (``python -m samples.scale_out``). Python clients
(`ChatClient`) and the real neffos.js (Node driver) are spread over the nodes. Readiness
is explicit: nodes log when they know each other, clients wait for the node's welcome
(sent once its subscriptions are live) and for ``joined`` after a room join.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from aioneffos.framework import RemoteError
from compat.node_client import RECORD, NodeConn, NodeDriver, reply, require_node
from tests.scale_out.conftest import OpenChat, StartNodes
from tests.scale_out.processes import WAIT_TIMEOUT, Broker, Node

pytestmark = pytest.mark.broker

JS_EVENTS = {
    "chat": {
        "chat": RECORD,
        "say": RECORD,
        "whisper": RECORD,
        "system": RECORD,
        "poke": reply("pong from neffos.js"),
    }
}


@pytest.fixture
async def driver() -> AsyncIterator[NodeDriver]:
    """The neffos.js driver under Node (skips locally without Node, fails under CI)."""
    require_node()
    async with NodeDriver.start(default_timeout=WAIT_TIMEOUT) as started:
        yield started


async def js_chat(driver: NodeDriver, node: Node) -> NodeConn:
    """Dial *node* with neffos.js, connect to ``chat`` and say hello (answered once subscribed)."""
    conn = await driver.dial(node.ws_url, JS_EVENTS, record_system_events=False)
    await conn.connect("chat")
    hello = json.loads((await conn.ask("chat", "hello")).text)
    assert (hello["id"], hello["synced"]) == (conn.id, True)
    return conn


def body(text: str) -> Any:
    """Decode a JSON body."""
    return json.loads(text)


async def test_broadcast_reaches_every_other_client_on_every_node(
    start_nodes: StartNodes, chat: OpenChat, driver: NodeDriver
) -> None:
    a, b, c = await start_nodes(3)
    alice, bob, carol = await chat(a), await chat(b), await chat(a)
    js = await js_chat(driver, c)

    alice.ns.emit("chat", "hello cluster")

    expected = {"from": alice.id, "text": "hello cluster"}
    assert await bob.next_json("chat") == expected
    assert await carol.next_json("chat") == expected
    assert body((await js.wait_for("chat", ns="chat")).text) == expected
    # exclude_self: the sender's own node skips exactly the sender.
    assert alice.pending("chat") == 0


async def test_room_emit_reaches_room_members_on_other_nodes_only(
    start_nodes: StartNodes, chat: OpenChat, driver: NodeDriver
) -> None:
    a, b, c = await start_nodes(3)
    alice, bob, outsider = await chat(a), await chat(b), await chat(c)
    js = await js_chat(driver, c)
    await alice.join("lobby")
    await bob.join("lobby")
    await js.join_room("chat", "lobby")
    assert body((await js.ask("chat", "hello")).text)["rooms"] == ["lobby"]
    lobby = alice.ns.room("lobby")
    assert lobby is not None

    lobby.emit("say", "room only")

    said = await bob.next("say")
    assert (said.room, said.json()) == ("lobby", {"from": alice.id, "text": "room only"})
    js_said = await js.wait_for("say", ns="chat")
    assert (js_said.room, body(js_said.text)) == ("lobby", {"from": alice.id, "text": "room only"})
    # Node c delivered the room message to its member (neffos.js), not to the outsider.
    alice.ns.emit("chat", "marker")
    assert (await outsider.next_json("chat"))["text"] == "marker"
    assert outsider.pending("say") == 0


async def test_whisper_to_an_id_reaches_that_connection_on_its_node(
    start_nodes: StartNodes, chat: OpenChat, driver: NodeDriver
) -> None:
    a, b, c = await start_nodes(3)
    alice, bob, bystander = await chat(a), await chat(b), await chat(c)
    js = await js_chat(driver, c)

    alice.ns.emit("whisper", {"to": js.id, "text": "psst js"})
    got = await js.wait_for("whisper", ns="chat")
    assert body(got.text) == {"from": alice.id, "text": "psst js"}

    alice.ns.emit("whisper", {"to": bob.id, "text": "psst bob"})
    assert await bob.next_json("whisper") == {"from": alice.id, "text": "psst bob"}
    # Only the addressed connections got whispers; a later chat proves the bystander is live.
    alice.ns.emit("chat", "done")
    assert (await bystander.next_json("chat"))["text"] == "done"
    assert bystander.pending("whisper") == 0


async def test_server_ask_is_answered_by_a_client_on_another_node(
    start_nodes: StartNodes, chat: OpenChat, driver: NodeDriver
) -> None:
    a, b, c = await start_nodes(3)
    alice, bob = await chat(a), await chat(b)
    js = await js_chat(driver, c)

    assert (await alice.ns.ask("poke", js.id)).text == "pong from neffos.js"
    answer = await js.ask("chat", "poke", bob.id)
    assert answer.text == f"pong from {bob.id}"


async def test_server_ask_to_an_unknown_id_fails_fast_with_no_recipient(
    start_nodes: StartNodes, chat: OpenChat
) -> None:
    a, _, _ = await start_nodes(3)
    alice = await chat(a)

    with pytest.raises(RemoteError) as caught:
        await alice.ns.ask("poke", "nobody-has-this-id", timeout=WAIT_TIMEOUT)
    assert caught.value.text == "no connection in the cluster matches the ask"


async def test_kick_closes_the_connection_on_its_node(
    start_nodes: StartNodes, chat: OpenChat, driver: NodeDriver
) -> None:
    a, b, c = await start_nodes(3)
    alice, bob = await chat(a), await chat(b)
    js = await js_chat(driver, c)

    assert (await alice.ns.ask("kick", js.id)).text == "kicked"
    closed = await js.wait_closed()
    assert (closed.data["code"], closed.data["reason"]) == (4000, f"kicked by {alice.id}")

    assert (await alice.ns.ask("kick", bob.id)).text == "kicked"
    await asyncio.wait_for(bob.conn.wait_closed(), WAIT_TIMEOUT)
    assert bob.conn.close_code == 4000


async def test_online_counts_the_connections_of_every_node(
    start_nodes: StartNodes, chat: OpenChat, driver: NodeDriver
) -> None:
    a, b, c = await start_nodes(3)
    alice = await chat(a)
    await chat(b)
    await chat(b)
    await js_chat(driver, c)
    await chat(c)

    assert (await alice.ns.ask("online")).text == "5"


async def test_each_node_holds_one_broker_connection_whatever_its_clients(
    start_nodes: StartNodes, chat: OpenChat, broker: Broker
) -> None:
    nodes = await start_nodes(3)
    for node in nodes:
        for _ in range(4):
            await chat(node)

    per_node = await broker_connections(broker)

    # Redis: one publishing and one subscribed connection (redis-py pub/sub needs its own).
    expected = {"redis": ["pub", "sub"], "nats": [""]}[broker.kind]
    assert per_node == {node.node_id: expected for node in nodes}


async def broker_connections(broker: Broker) -> dict[str, list[str]]:
    """Give each node's broker connections by role, as the broker itself lists them."""
    found: dict[str, list[str]] = {}
    if broker.kind == "redis":
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(broker.url)
        try:
            listing = await client.client_list()
        finally:
            await client.aclose()
        names = [entry["name"] for entry in listing]
    else:
        connz = f"http://127.0.0.1:{broker.monitor_port}/connz?limit=1000"
        async with aiohttp.ClientSession() as session, session.get(connz) as resp:
            names = [conn.get("name", "") for conn in (await resp.json())["connections"]]
    for name in names:
        if name.startswith("aioneffos:"):
            _, node_id, *role = name.split(":")
            found.setdefault(node_id, []).append(role[0] if role else "")
    return {node: sorted(roles) for node, roles in found.items()}


async def test_presence_says_who_is_on_which_node_and_invites_a_connection_on_another_node(
    start_nodes: StartNodes, chat: OpenChat
) -> None:
    a, b, c = await start_nodes(3)
    alice, bob, carol = await chat(a), await chat(b), await chat(c)
    await alice.presence("join", carol.id)  # node a has heard of everyone (in order of joins)
    await bob.join("lobby")
    await alice.presence("join", bob.id, "lobby")

    who = json.loads((await alice.ns.ask("who")).text)
    invited = (await alice.ns.ask("invite", json.dumps({"id": carol.id, "room": "vip"}))).text
    await alice.presence("join", carol.id, "vip")
    # Node b learns of the join through the broker, on its own time: ask it once it has.
    await bob.presence("join", carol.id, "vip")
    vip = json.loads((await bob.ns.ask("who", "vip")).text)

    members = {(m["id"], m["node"]) for m in who["members"]}
    assert members == {(alice.id, a.node_id), (bob.id, b.node_id), (carol.id, c.node_id)}
    assert (who["rooms"], who["stale"]) == ({"lobby": 1}, False)
    assert (invited, carol.ns.room("vip") is not None) == ("1", True)
    assert (vip["members"], vip["rooms"]) == ([{"id": carol.id, "node": c.node_id}], {"vip": 1})
