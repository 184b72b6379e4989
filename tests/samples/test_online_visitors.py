"""samples/online_visitors: the counting in memory with Python clients (`aioneffos.testing`),
and the sample started with ``python -m samples.online_visitors``, driven by neffos.js as its page is."""

from __future__ import annotations

import pytest
from aiohttp import web

from aioneffos.framework import Conn, RemoteError
from aioneffos.testing import Clients, Recorder
from compat.node_client import RECORD, NodeConn, NodeDriver
from samples.online_visitors.server import make_app
from support.sample_process import StartSample

NS = "default"
TIMEOUT = 10.0


async def viewer(driver: NodeDriver, url: str, page: str) -> NodeConn:
    """What the page does: connect to "default" and join the room named after the page."""
    client = await driver.dial(url, {NS: {"onNewVisit": RECORD}}, record_system_events=False)
    await client.connect(NS)
    await client.join_room(NS, page)
    return client


async def next_count(client: NodeConn) -> tuple[str | None, str]:
    msg = await client.wait_for("onNewVisit", ns=NS, timeout=TIMEOUT)
    return msg.room, msg.text


async def test_online_visitors_count_reaches_every_viewer_of_the_page(
    start_sample: StartSample, driver: NodeDriver
) -> None:
    sample = await start_sample("online_visitors")

    first = await viewer(driver, sample.ws_url, "index")
    first_alone = await next_count(first)
    second = await viewer(driver, sample.ws_url, "index")

    assert first_alone == ("index", "1")
    assert await next_count(first) == ("index", "2")
    assert await next_count(second) == ("index", "2")


class Viewer:
    """What the page does, in memory: connect to "default", join the room named after the page."""

    def __init__(self, conn: Conn, rec: Recorder) -> None:
        self.conn = conn
        self.rec = rec

    @classmethod
    async def open(cls, neffos_client: Clients, app: web.Application, page: str) -> Viewer:
        rec = Recorder()
        conn = await neffos_client(app, rec)
        await (await conn.connect(NS)).join_room(page)
        return cls(conn, rec)

    async def next_count(self) -> tuple[str, str]:
        msg = await self.rec.next("onNewVisit")
        return msg.room, msg.text


async def test_online_visitors_pages_are_counted_apart(neffos_client: Clients) -> None:
    app = make_app()
    index = await Viewer.open(neffos_client, app, "index")
    assert await index.next_count() == ("index", "1")

    other = await Viewer.open(neffos_client, app, "other")
    other_count = await other.next_count()
    late = await Viewer.open(neffos_client, app, "index")

    assert other_count == ("other", "1")
    assert await index.next_count() == ("index", "2")  # the "other" viewer never reached index
    assert await late.next_count() == ("index", "2")
    assert [m.room for m in index.rec.all()] == ["index", "index"]


async def test_online_visitors_closed_tab_lowers_the_count_of_the_others(neffos_client: Clients) -> None:
    app = make_app()
    staying = await Viewer.open(neffos_client, app, "index")
    leaving = await Viewer.open(neffos_client, app, "index")
    assert [await staying.next_count(), await staying.next_count()] == [("index", "1"), ("index", "2")]

    await neffos_client.close(leaving.conn)

    assert await staying.next_count() == ("index", "1")


async def test_online_visitors_refuses_a_room_that_is_no_page(neffos_client: Clients) -> None:
    conn = await neffos_client(make_app())
    ns = await conn.connect(NS)

    with pytest.raises(RemoteError) as refused:
        await ns.join_room("admin")

    assert refused.value.text == "unknown page 'admin'"
    assert dict(ns.rooms) == {}
