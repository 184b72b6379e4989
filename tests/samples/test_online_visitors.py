"""samples/online_visitors, started with ``python -m samples.online_visitors``, driven by neffos.js."""

from __future__ import annotations

import pytest

from compat.node_client import RECORD, CommandError, NodeConn, NodeDriver
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


async def test_online_visitors_pages_are_counted_apart(start_sample: StartSample, driver: NodeDriver) -> None:
    sample = await start_sample("online_visitors")
    index = await viewer(driver, sample.ws_url, "index")
    assert await next_count(index) == ("index", "1")

    other = await viewer(driver, sample.ws_url, "other")
    other_count = await next_count(other)
    late = await viewer(driver, sample.ws_url, "index")

    assert other_count == ("other", "1")
    assert await next_count(index) == ("index", "2")  # the "other" viewer never reached index
    assert await next_count(late) == ("index", "2")


async def test_online_visitors_closed_tab_lowers_the_count_of_the_others(
    start_sample: StartSample, driver: NodeDriver
) -> None:
    sample = await start_sample("online_visitors")
    staying = await viewer(driver, sample.ws_url, "index")
    leaving = await viewer(driver, sample.ws_url, "index")
    assert [await next_count(staying), await next_count(staying)] == [("index", "1"), ("index", "2")]

    await leaving.close()

    assert await next_count(staying) == ("index", "1")


async def test_online_visitors_refuses_a_room_that_is_no_page(
    start_sample: StartSample, driver: NodeDriver
) -> None:
    sample = await start_sample("online_visitors")
    client = await driver.dial(sample.ws_url, {NS: {"onNewVisit": RECORD}})
    await client.connect(NS)

    with pytest.raises(CommandError) as refused:
        await client.join_room(NS, "admin")

    assert refused.value.message == "unknown page 'admin'"
    assert (await client.state()).namespaces == {NS: []}
