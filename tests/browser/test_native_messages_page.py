"""The native_messages page in Chromium: a plain browser WebSocket, two tabs and a raw Python peer."""

from __future__ import annotations

import asyncio

import aiohttp
from playwright.async_api import expect

from support.sample_process import StartSample


async def test_native_messages_page_relays_between_tabs_and_a_raw_peer(
    start_sample: StartSample, open_page
) -> None:
    sample = await start_sample("native_messages")
    first = await open_page(sample.url)
    await expect(first.locator("#messages li")).to_have_text(["welcome! 1 connected"])
    second = await open_page(sample.url)
    await expect(second.locator("#messages li")).to_have_text(["welcome! 2 connected"])

    await first.fill("#text", "hello from tab 1")
    await first.click("button")
    await expect(second.locator("#messages li")).to_have_text(["welcome! 2 connected", "hello from tab 1"])
    async with aiohttp.ClientSession() as session, session.ws_connect(sample.ws_url) as raw:
        async with asyncio.timeout(10):
            greeting = (await raw.receive()).data
        await raw.send_str("hello from python")
        await expect(second.locator("#messages li")).to_have_text(
            ["welcome! 2 connected", "hello from tab 1", "hello from python"]
        )

    assert greeting == "welcome! 3 connected"
    await expect(first.locator("#messages li")).to_have_text(
        ["welcome! 1 connected", "me: hello from tab 1", "hello from python"]
    )
