"""Prometheus metrics: a real server over loopback, real traffic, ``/metrics`` scraped and parsed
with prometheus-client's own parser, exact values asserted."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from aioneffos.framework import (
    AskTimeoutError,
    Conn,
    Message,
    NoRecipientError,
    NSConn,
    Refused,
    RemoteError,
    Server,
    WriteClosedError,
    admin,
    dial,
    metrics,
)
from aioneffos.framework.outbox import Outbox
from aioneffos.framework.protocol import Frame
from aioneffos.framework.routing import route
from support.peers import RawPeer
from support.serving import RawConnect, Serve
from support.waiting import Inbox, wait_for

Labels = tuple[tuple[str, str], ...]


class Scrape:
    """One parsed scrape: samples by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[str, dict[Labels, float]] = {}
        self.types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                by_labels = self.samples.setdefault(sample.name, {})
                by_labels[tuple(sorted(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float | None:
        """Give the sample *name* with exactly *labels*, or ``None`` when there is none."""
        return self.samples.get(name, {}).get(tuple(sorted(labels.items())))

    def by(self, name: str, *keys: str) -> dict[tuple[str, ...], float]:
        """Give every sample *name* keyed by the values of *keys* (its other labels ignored)."""
        found: dict[tuple[str, ...], float] = {}
        for labels, value in self.samples.get(name, {}).items():
            as_dict = dict(labels)
            key = tuple(as_dict[k] for k in keys)
            found[key] = found.get(key, 0.0) + value
        return found


Scraper = Callable[[], Awaitable[Scrape]]


@pytest.fixture
def metered(serve: Serve, session: aiohttp.ClientSession) -> Callable[..., Awaitable[tuple[str, Scraper]]]:
    """Serve *server* with metrics (a registry of its own); give its ws:// URL and a scraper."""

    async def start(server: Server, app: web.Application | None = None, **setup: Any) -> tuple[str, Scraper]:
        app = app if app is not None else web.Application()
        metrics.setup(app, server, registry=CollectorRegistry(), **setup)
        url = await serve(server, app=app)
        page = URL(url).with_scheme("http").with_path("/metrics")

        async def scrape() -> Scrape:
            async with session.get(page) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                return Scrape(await response.text())

        return url, scrape

    return start


Metered = Callable[..., Awaitable[tuple[str, Scraper]]]


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


def quiet(ns: NSConn, msg: Message) -> None:
    return None


def cut(peer: RawPeer) -> None:
    """Make *peer* vanish: its TCP connection cut, no close frame."""
    connection = peer.ws._response.connection
    assert connection is not None
    assert connection.transport is not None
    connection.transport.abort()


# -- connections --------------------------------------------------------------------------------


async def test_connections_are_counted_by_close_code_and_reason(
    metered: Metered, raw: RawConnect, session: aiohttp.ClientSession
) -> None:
    conns = Inbox()

    def on_connect(conn: Conn) -> None:
        if conn.request is not None and "X-Refuse" in conn.request.headers:
            raise Refused("not you")
        conns.put(conn)

    gone = Inbox()
    server = Server({"default": {"echo": echo}}, on_connect=on_connect, on_disconnect=gone)
    url, scrape = await metered(server)
    leaves = await raw(url)
    kicked = await raw(url)
    vanishes = await raw(url)
    stays = await raw(url)
    too_big = await raw(url)
    await too_big.connect("default")
    for _ in range(5):
        await conns.get()
    refused = RawPeer(await session.ws_connect(url, headers={"X-Refuse": "1"}))
    await refused.send("M")
    silent = RawPeer(await session.ws_connect(url))  # never says M: too much before it
    for i in range(17):
        await silent.send(f"frame {i}")

    first = await scrape()
    assert (first.value("aioneffos_connections"), first.value("aioneffos_connections_opened_total")) == (7, 7)

    await leaves.close()
    server.close_local(kicked.id)
    assert await kicked.recv_close() == (1000, "")
    cut(vanishes)
    await too_big.send("$1;default;;echo;0;0;" + "x" * (1 << 20))
    assert (await too_big.recv_close())[0] == 1009
    assert await refused.recv_close() == (1008, "not you")
    assert await silent.recv_close() == (1008, "expected the neffos handshake (M)")
    for _ in range(4):  # leaves, kicked, vanishes, too_big: torn down
        await gone.get()
    await server.close()  # the other teardowns done; `stays` gets 1001
    assert await stays.recv_close() == (1001, "server shutdown")

    closed = (await scrape()).by("aioneffos_connections_closed_total", "code", "reason")
    assert closed == {
        ("1000", "peer"): 1,
        ("1000", "application"): 1,
        ("1006", "peer"): 1,
        ("1009", "message_too_big"): 1,
        ("1008", "refused"): 1,
        ("1008", "handshake"): 1,
        ("1001", "shutdown"): 1,
    }
    last = await scrape()
    assert (last.value("aioneffos_connections"), last.value("aioneffos_server_accepting")) == (0, 0)


async def test_a_read_timeout_and_an_administrator_close_are_counted(
    metered: Metered, raw: RawConnect, session: aiohttp.ClientSession
) -> None:
    server = Server({"default": {}}, read_timeout=0.2)
    app = web.Application()
    admin.setup(app, server, token="t" * 16)
    url, scrape = await metered(server, app)
    idle = await raw(url)
    assert await idle.recv_close() == (1008, "read timeout")
    busy = await raw(url)
    await busy.connect("default")
    key = next(c.key for c in server.connections if c.id == busy.id)
    async with session.post(
        URL(url).with_scheme("http").with_path("/admin/api/disconnect"),
        json={"key": key},
        headers={"Authorization": "Bearer " + "t" * 16},
    ) as response:
        assert response.status == 200
    assert await busy.recv_close() == (1008, admin.DISCONNECT_REASON)
    await server.close()

    closed = (await scrape()).by("aioneffos_connections_closed_total", "code", "reason")
    assert closed == {("1008", "read_timeout"): 1, ("1008", "admin"): 1}


async def test_namespace_connections_rooms_and_members_are_current(metered: Metered, raw: RawConnect) -> None:
    server = Server({"chat": {}, "news": {}})
    url, scrape = await metered(server)
    peers = [await raw(url) for _ in range(3)]
    for peer in peers:
        await peer.connect("chat")
    await peers[0].connect("news")
    await peers[0].join("chat", "lobby")
    await peers[1].join("chat", "lobby")
    await peers[1].join("chat", "games")

    got = await scrape()
    assert got.by("aioneffos_namespace_connections", "namespace") == {("chat",): 3, ("news",): 1}
    assert got.by("aioneffos_rooms", "namespace") == {("chat",): 2, ("news",): 0}
    assert got.by("aioneffos_room_members", "namespace") == {("chat",): 3, ("news",): 0}

    await peers[1].close()
    await server.close()
    got = await scrape()
    assert got.by("aioneffos_rooms", "namespace") == {("chat",): 0, ("news",): 0}


# -- messages and asks ---------------------------------------------------------------------------


async def test_messages_in_and_out_are_counted_by_namespace_and_event(
    metered: Metered, raw: RawConnect
) -> None:
    async def shout(ns: NSConn, msg: Message) -> None:
        ns.broadcast("news", msg.body)  # to every connection of the namespace

    async def greet(ns: NSConn, msg: Message) -> None:
        ns.emit("hello", b"you")
        ns.emit("hello", b"again")

    server = Server({"chat": {"echo": echo, "note": quiet, "shout": shout, "greet": greet}})
    url, scrape = await metered(server)
    peers = [await raw(url) for _ in range(3)]
    for peer in peers:
        await peer.connect("chat")
    alice = peers[0]
    for _ in range(3):
        await alice.ask("chat", "echo", "hi")
    await alice.send(";chat;;note;0;0;a")
    await alice.send(";chat;;note;0;0;b")
    await alice.send(";chat;;shout;0;0;all")
    await alice.send(";chat;;greet;0;0;")
    assert [await alice.recv() for _ in range(3)] == [
        ";chat;;news;0;0;all",
        ";chat;;hello;0;0;you",
        ";chat;;hello;0;0;again",
    ]
    for peer in peers[1:]:
        assert await peer.recv() == ";chat;;news;0;0;all"

    got = await scrape()
    assert got.by("aioneffos_messages_received_total", "namespace", "event") == {
        ("chat", "_OnNamespaceConnect"): 3,
        ("chat", "echo"): 3,
        ("chat", "note"): 2,
        ("chat", "shout"): 1,
        ("chat", "greet"): 1,
    }
    assert got.by("aioneffos_messages_sent_total", "namespace", "event") == {
        ("chat", "_OnNamespaceConnect"): 3,  # the empty replies that grant the connects
        ("chat", "echo"): 3,
        ("chat", "news"): 3,  # one broadcast, three recipients
        ("chat", "hello"): 2,
    }
    assert got.types["aioneffos_messages_received"] == "counter"


async def test_peers_asks_are_counted_by_outcome_with_a_latency_histogram(
    metered: Metered, raw: RawConnect
) -> None:
    never = asyncio.Event()

    async def refuse(ns: NSConn, msg: Message) -> None:
        raise Refused("not now")

    async def bug(ns: NSConn, msg: Message) -> None:
        raise KeyError("b")

    async def stuck(ns: NSConn, msg: Message) -> None:
        await never.wait()

    events = {"echo": echo, "note": quiet, "refuse": refuse, "bug": bug, "stuck": stuck}
    server = Server({"chat": events}, handler_timeout=0.1)
    url, scrape = await metered(server)
    peer = await raw(url)
    await peer.connect("chat")
    assert await peer.ask("chat", "echo", "x") == "$raw2;chat;;echo;0;0;x"
    assert await peer.ask("chat", "echo", "y") == "$raw3;chat;;echo;0;0;y"
    assert await peer.ask("chat", "note") == "$raw4;;;;;;"
    assert await peer.ask("chat", "refuse") == "$raw5;chat;;refuse;1;0;not now"
    assert await peer.ask("chat", "bug") == "$raw6;chat;;bug;1;0;KeyError: 'b'"
    assert await peer.ask("chat", "stuck") == "$raw7;chat;;stuck;1;0;handler timed out"
    assert await peer.ask("chat", "nope") == "$raw8;chat;;nope;1;0;unknown event 'nope'"
    assert await peer.ask("lobby", "echo") == "$raw9;lobby;;echo;1;0;bad namespace"
    await peer.send(";chat;;bug;0;0;")  # a plain emit: its handler's error is counted too
    assert await peer.recv() == ";chat;;bug;1;0;KeyError: 'b'"  # and sent back, as neffos does
    await peer.send(";chat;;gone;0;0;")
    assert await peer.ask("chat", "echo", "z") == "$raw10;chat;;echo;0;0;z"

    got = await scrape()
    assert got.by("aioneffos_asks_answered_total", "namespace", "event", "outcome") == {
        ("chat", "_OnNamespaceConnect", "empty"): 1,
        ("chat", "echo", "reply"): 3,
        ("chat", "note", "empty"): 1,
        ("chat", "refuse", "error"): 1,
        ("chat", "bug", "error"): 1,
        ("chat", "stuck", "timeout"): 1,
        ("chat", "_other", "error"): 1,
        ("_other", "_other", "error"): 1,  # lobby: not a namespace of this server
    }
    assert got.by("aioneffos_handler_errors_total", "event", "kind") == {
        ("refuse", "refusal"): 1,
        ("bug", "error"): 2,
    }
    assert got.by("aioneffos_unknown_events_total", "namespace") == {("chat",): 2}
    # The histogram counts every answer; its buckets are cumulative and end at +Inf.
    assert got.value("aioneffos_answer_seconds_count", namespace="chat", event="echo") == 3
    assert got.value("aioneffos_answer_seconds_bucket", namespace="chat", event="echo", le="+Inf") == 3
    assert got.value("aioneffos_answer_seconds_bucket", namespace="chat", event="stuck", le="0.05") == 0
    assert got.value("aioneffos_answer_seconds_bucket", namespace="chat", event="stuck", le="0.1") == 0
    assert got.value("aioneffos_answer_seconds_bucket", namespace="chat", event="stuck", le="+Inf") == 1
    stuck_seconds = got.value("aioneffos_answer_seconds_sum", namespace="chat", event="stuck")
    assert stuck_seconds is not None
    assert stuck_seconds >= 0.1
    buckets = [
        value
        for labels, value in got.samples["aioneffos_answer_seconds_bucket"].items()
        if dict(labels)["event"] == "echo"
    ]
    assert sorted(buckets) == [value for _, value in sorted_by_le(got, "echo")]
    assert got.types["aioneffos_answer_seconds"] == "histogram"


def sorted_by_le(got: Scrape, event: str) -> list[tuple[float, float]]:
    """Give the (le, count) buckets of *event*'s answer histogram in the order of their bounds."""
    return sorted(
        (float(dict(labels)["le"]), value)
        for labels, value in got.samples["aioneffos_answer_seconds_bucket"].items()
        if dict(labels)["event"] == event
    )


async def test_server_asks_are_counted_by_outcome(metered: Metered, serve: Serve) -> None:
    asked = Inbox()
    server = Server({"chat": {"_OnNamespaceConnected": lambda ns, msg: asked.put(ns)}})
    url, scrape = await metered(server)
    never = asyncio.Event()

    stalled = asyncio.Event()

    async def stall(ns: NSConn, msg: Message) -> None:
        stalled.set()
        await never.wait()

    async def refuse(ns: NSConn, msg: Message) -> None:
        raise Refused("no thanks")

    client = await dial(url, {"chat": {"name": lambda ns, msg: "ada", "stall": stall, "refuse": refuse}})
    try:
        await client.connect("chat")
        ns: NSConn = await asked.get()
        assert (await ns.ask("name")).body == b"ada"
        with pytest.raises(RemoteError, match="no thanks"):
            await ns.ask("refuse")
        with pytest.raises(AskTimeoutError):
            await ns.ask("stall", timeout=0.05)
        never.set()  # the client handles in order: let it read on (its late reply is dropped)
        assert (await server.ask(Message("chat", "name"))).body == b"ada"
        with pytest.raises(NoRecipientError):
            await server.ask(Message("chat", "name", room="nobody here"))
        never.clear()
        stalled.clear()
        waiting = asyncio.ensure_future(ns.ask("stall"))
        await wait_for(stalled.wait())
    finally:
        await client.close()
    with pytest.raises(WriteClosedError):
        await wait_for(waiting)  # the connection ended under it

    got = await scrape()
    assert got.by("aioneffos_asks_sent_total", "event", "outcome") == {
        ("name", "reply"): 2,
        ("refuse", "error"): 1,
        ("stall", "timeout"): 1,
        ("stall", "closed"): 1,
        ("name", "no_recipient"): 1,
    }
    assert got.value("aioneffos_ask_seconds_count", namespace="chat", event="name") == 3
    assert got.by("aioneffos_messages_sent_total", "event") == {
        ("_OnNamespaceConnect",): 1,
        ("name",): 2,
        ("refuse",): 1,
        ("stall",): 2,
    }


# -- bounded labels -------------------------------------------------------------------------------


async def test_a_flood_of_distinct_event_names_folds_into_one_label(
    metered: Metered, raw: RawConnect
) -> None:
    async def mirror(ns: NSConn, msg: Message) -> None:
        ns.emit(msg.body.decode())  # a handler that sends whatever event name it is given

    server = Server({"chat": {"echo": echo, "mirror": mirror}})
    url, scrape = await metered(server, max_event_labels=100)
    peer = await raw(url)
    await peer.connect("chat")
    assert await peer.ask("chat", "echo", "x") == "$raw2;chat;;echo;0;0;x"
    before = await scrape()

    for i in range(2000):
        await peer.send(f";chat;;attack{i};0;0;")
    for i in range(50):
        await peer.send(f";lobby{i};;attack;0;0;")  # namespaces this server does not serve
    for i in range(150):
        await peer.send(f";chat;;mirror;0;0;out{i}")
    for i in range(150):
        assert await peer.recv() == f";chat;;out{i};0;0;"
    assert await peer.ask("chat", "echo", "y") == "$raw3;chat;;echo;0;0;y"
    after = await scrape()

    received = after.by("aioneffos_messages_received_total", "namespace", "event")
    assert received == {
        ("chat", "_OnNamespaceConnect"): 1,
        ("chat", "echo"): 2,
        ("chat", "mirror"): 150,
        ("chat", "_other"): 2000,
        ("_other", "_other"): 50,
    }
    assert after.by("aioneffos_unknown_events_total", "namespace") == {("chat",): 2000}
    sent = after.by("aioneffos_messages_sent_total", "event")
    assert len([event for (event,) in sent if event.startswith("out")]) == 100
    assert sent[("_other",)] == 50  # the names past the first 100 of this namespace
    # What peers send never adds a series: 2,200 new names, 5 new series in all.
    series = sum(len(samples) for samples in after.samples.values())
    assert series - sum(len(samples) for samples in before.samples.values()) == 3 + 101 + 1


# -- queues and limits ----------------------------------------------------------------------------


class StalledSink:
    """A socket whose peer reads nothing: every frame waits in the outbox (a fault to inject)."""

    lost = False

    def write_now(self, frame: Frame) -> bool:
        return False

    async def write(self, frame: Frame) -> None:
        await asyncio.Event().wait()

    def abort(self) -> None:
        self.lost = True


async def test_an_outbox_keeps_its_high_water_mark_in_frames_and_bytes() -> None:
    closed = Inbox()
    outbox = Outbox(StalledSink(), 8, lambda: closed.put("overflow"), limit_bytes=10_000)
    for size in (100, 300, 200):
        assert outbox.put(Frame(b"x" * size, True))
    assert (len(outbox), outbox.queued_bytes, outbox.peak_frames, outbox.peak_bytes) == (3, 600, 3, 600)
    await asyncio.sleep(0)  # the flush takes the first frame to the socket, where it waits
    assert (len(outbox), outbox.queued_bytes, outbox.peak_frames, outbox.peak_bytes) == (2, 500, 3, 600)
    for size in (50, 60):
        assert outbox.put(Frame(b"x" * size, True))
    assert (len(outbox), outbox.queued_bytes, outbox.peak_frames, outbox.peak_bytes) == (4, 610, 4, 610)
    outbox.close()
    assert (len(outbox), outbox.peak_frames, outbox.peak_bytes) == (0, 4, 610)
    assert closed.entries == []


async def test_queued_frames_and_asks_in_flight_are_read_at_each_scrape(
    metered: Metered, raw: RawConnect
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def hold_three(ns: NSConn, msg: Message) -> None:
        for _ in range(3):  # held back until the ask is answered (the reply goes first)
            ns.emit("later", b"x" * 10)
        entered.set()
        await release.wait()

    server = Server({"chat": {"hold": hold_three}})
    url, scrape = await metered(server)
    peer = await raw(url)
    await peer.connect("chat")
    await peer.send("$hold;chat;;hold;0;0;")
    await wait_for(entered.wait())
    asking = asyncio.ensure_future(server.ask(Message("chat", "ping"), timeout=5))
    assert await peer.recv() == "1;chat;;ping;0;0;"  # asked; the raw peer does not answer yet

    got = await scrape()
    frame = len(";chat;;later;0;0;" + "x" * 10)
    assert (got.value("aioneffos_outbox_queued_frames"), got.value("aioneffos_outbox_queued_bytes")) == (
        3,
        3 * frame,
    )
    assert (got.value("aioneffos_outbox_peak_frames"), got.value("aioneffos_outbox_peak_bytes")) == (
        3,
        3 * frame,
    )
    assert got.value("aioneffos_asks_in_flight") == 1

    await peer.send("1;chat;;ping;0;0;pong")
    assert (await wait_for(asking)).body == b"pong"
    release.set()
    assert await peer.recv() == "$hold;;;;;;"
    assert [await peer.recv() for _ in range(3)] == [";chat;;later;0;0;xxxxxxxxxx"] * 3
    got = await scrape()
    assert (got.value("aioneffos_outbox_queued_frames"), got.value("aioneffos_asks_in_flight")) == (0, 0)
    assert got.value("aioneffos_outbox_peak_frames") == 3


async def test_a_slow_consumer_close_and_the_queue_high_water_mark_are_counted(
    metered: Metered, raw: RawConnect, tiny_session: aiohttp.ClientSession
) -> None:
    conns = Inbox()
    gone = Inbox()

    def small_send_buffer(conn: Conn) -> None:
        request = conn.request
        assert request is not None
        assert request.transport is not None
        if "X-Slow" in request.headers:
            request.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        conns.put(conn)

    server = Server({"news": {}}, outbound_queue_size=8, on_connect=small_send_buffer, on_disconnect=gone)
    url, scrape = await metered(server)
    slow = RawPeer(await tiny_session.ws_connect(url, headers={"X-Slow": "1"}))
    await slow.handshake()
    await slow.connect("news")
    slow_conn: Conn = await conns.get()
    fast = await raw(url)
    await fast.connect("news")
    await conns.get()

    body = b"x" * (64 * 1024)
    server.broadcast(Message("news", "item", body))
    while slow_conn.queued_frames < 2:  # each broadcast fills the slow peer's socket a little more
        assert await fast.recv()
        server.broadcast(Message("news", "item", body))
    seen = slow_conn.queued_frames
    queued = await scrape()  # nothing is broadcast meanwhile: the marks stay where they are
    assert queued.value("aioneffos_outbox_peak_frames") == slow_conn.peak_queued_frames >= seen
    assert queued.value("aioneffos_outbox_peak_bytes") == slow_conn.peak_queued_bytes >= seen * len(body)
    now = queued.value("aioneffos_outbox_queued_bytes")
    assert now is not None
    assert now <= slow_conn.peak_queued_bytes

    for _ in range(20):
        server.broadcast(Message("news", "item", body))
    assert await slow.recv_close() == (1008, "slow consumer")
    assert (await gone.get()) is slow_conn
    got = await scrape()
    assert got.by("aioneffos_connections_closed_total", "code", "reason") == {("1008", "slow_consumer"): 1}
    assert got.value("aioneffos_connections") == 1


async def test_a_rate_limit_close_is_counted(metered: Metered, raw: RawConnect) -> None:
    gone = Inbox()
    server = Server({"chat": {"note": quiet}}, max_messages_per_second=10, on_disconnect=gone)
    url, scrape = await metered(server)
    flooder = await raw(url)
    await flooder.connect("chat")
    for _ in range(100):  # ten times the rate, at once: past the burst, it is closed
        await flooder.send(";chat;;note;0;0;")
    assert await flooder.recv_close() == (1008, "rate limit exceeded")
    await gone.get()
    got = await scrape()
    assert got.by("aioneffos_connections_closed_total", "code", "reason") == {("1008", "rate_limit"): 1}


# -- the endpoint and its setup -------------------------------------------------------------------


async def test_openmetrics_is_served_to_a_scraper_that_asks_for_it(
    metered: Metered, raw: RawConnect, session: aiohttp.ClientSession
) -> None:
    server = Server({"chat": {"echo": echo}})
    url, _ = await metered(server)
    peer = await raw(url)
    await peer.connect("chat")
    async with session.get(
        URL(url).with_scheme("http").with_path("/metrics"),
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
    ) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        text = await response.text()
    families = {family.name: family for family in openmetrics_families(text)}
    assert families["aioneffos_connections_opened"].samples[0].value == 1
    assert families["aioneffos_connections"].type == "gauge"


async def test_a_token_guards_the_endpoint_when_given(serve: Serve, session: aiohttp.ClientSession) -> None:
    server = Server({"chat": {}})
    app = web.Application()
    token = "metrics-token-0123456789"
    metrics.setup(app, server, registry=CollectorRegistry(), token=token, path="/internal/metrics")
    page = URL(await serve(server, app=app)).with_scheme("http").with_path("/internal/metrics")

    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": token}):
        async with session.get(page, headers=headers) as response:
            assert (response.status, response.headers["WWW-Authenticate"]) == (
                401,
                'Bearer realm="aioneffos metrics"',
            )
            assert "aioneffos_" not in await response.text()
    async with session.get(page, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200
        assert Scrape(await response.text()).value("aioneffos_connections") == 0


def test_setup_refuses_what_would_count_wrong() -> None:
    app = web.Application()
    server = Server({"chat": {}})
    registry = CollectorRegistry()
    with pytest.raises(ValueError, match="at least 16 characters"):
        metrics.setup(app, server, registry=registry, token="short")
    with pytest.raises(ValueError, match="a token or a check, not both"):
        metrics.setup(app, server, registry=registry, token="t" * 16, check=lambda request: True)
    metrics.setup(app, server, registry=registry)
    with pytest.raises(RuntimeError, match="has an observer already"):
        metrics.setup(web.Application(), server, registry=CollectorRegistry())
    with pytest.raises(
        ValueError, match="Duplicated timeseries"
    ):  # a second server needs a registry of its own
        metrics.setup(web.Application(), Server({"chat": {}}), registry=registry)


async def test_a_server_with_connections_cannot_be_observed(serve: Serve, raw: RawConnect) -> None:
    server = Server({"chat": {}})
    await raw(await serve(server))
    with pytest.raises(RuntimeError, match="before it has connections"):
        metrics.setup(web.Application(), server, registry=CollectorRegistry())
    assert server.observer is None


async def test_the_default_registry_gets_the_metrics_until_the_app_cleans_up(
    aiohttp_client: Callable[..., Awaitable[Any]],
) -> None:
    from prometheus_client import REGISTRY

    app = web.Application()
    metrics.setup(app, Server({"chat": {}}))
    client = await aiohttp_client(app)
    got = Scrape(await (await client.get("/metrics")).text())
    assert got.value("aioneffos_connections") == 0
    assert got.value("process_cpu_seconds_total") is not None  # prometheus-client's own come along
    await client.close()
    assert "aioneffos_connections" not in {family.name for family in REGISTRY.collect()}


async def test_without_metrics_the_server_routes_and_counts_nothing(serve: Serve, raw: RawConnect) -> None:
    conns = Inbox()
    server = Server({"chat": {"echo": echo}}, on_connect=conns)
    peer = await raw(await serve(server))
    await peer.connect("chat")
    conn: Conn = await conns.get()
    assert server.observer is None
    assert conn.inbound._route is route  # the router itself: no wrapper, no call more per message
    assert conn.namespaces["chat"].table.observer is None


def test_the_framework_never_imports_prometheus_client() -> None:
    probe = "import sys, aioneffos.framework; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
