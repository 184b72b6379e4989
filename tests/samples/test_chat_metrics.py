"""samples/chat for an operator: ``/metrics`` as a user starts it, scraped while clients come,
talk and go, parsed with prometheus-client's parser."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from aioneffos.framework import Message, NSConn, dial
from support.sample_process import StartSample
from support.waiting import TIMEOUT, Inbox


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_chat_sample_serves_metrics_that_follow_its_clients(start_sample: StartSample) -> None:
    sample = await start_sample("chat")
    assert f"metrics: http://127.0.0.1:{sample.port}/metrics (Prometheus)" in sample.lines
    said = Inbox()

    def heard(ns: NSConn, msg: Message) -> None:
        said.put(json.loads(msg.body)["text"])

    alice = await dial(sample.ws_url, {"chat": {"OnChat": heard}}, headers={"X-Username": "alice"})
    bob = await dial(sample.ws_url, {"chat": {"OnChat": heard}}, headers={"X-Username": "bob"})
    rooms = [await (await conn.connect("chat")).join_room("general") for conn in (alice, bob)]
    rooms[0].emit("OnChat", json.dumps({"text": "hello"}))
    assert [await said.get(), await said.get()] == ["hello", "hello"]

    got = await scrape(sample.url)
    assert got[("aioneffos_connections", ())] == 2
    assert got[("aioneffos_namespace_connections", (("namespace", "chat"),))] == 2
    assert got[("aioneffos_rooms", (("namespace", "chat"),))] == 1
    assert got[("aioneffos_room_members", (("namespace", "chat"),))] == 2
    assert got[("aioneffos_messages_received_total", (("event", "OnChat"), ("namespace", "chat")))] == 1
    assert got[("aioneffos_messages_sent_total", (("event", "OnChat"), ("namespace", "chat")))] == 2
    assert got[("aioneffos_exchange_health", (("state", "up"),))] == 1
    assert ("process_cpu_seconds_total", ()) in got

    await bob.close()
    await alice.close()
    # The server tears a connection down right after its close handshake: scrape until it has.
    async with asyncio.timeout(TIMEOUT):
        while (got := await scrape(sample.url))[("aioneffos_connections", ())] != 0:
            pass
    closed: dict[str, float] = {}
    for (name, labels), value in got.items():
        if name == "aioneffos_connections_closed_total":
            reason = dict(labels)["reason"]
            closed[reason] = closed.get(reason, 0) + value
    # Closed by the clients: 1000 (or 1006 when the Python client cuts its socket before the
    # server's close frame came back, which it does when it closes while its reader runs).
    assert closed == {"peer": 2}
    assert got[("aioneffos_connections_opened_total", ())] == 2
