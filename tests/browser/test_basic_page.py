"""The basic sample's page in Chromium: neffos.js asks ``workday`` and shows replies and errors."""

from __future__ import annotations

from playwright.async_api import expect

from support.sample_process import StartSample

RESTART_TIMEOUT = 20_000  # ms: the server restarts, then neffos.js probes every second


async def test_basic_page_shows_the_reply_and_the_error_text(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("basic")
    page = await open_page(sample.url)
    await expect(page.locator("#status")).to_contain_text("connected as ")

    lines = page.locator("#output > div")
    for count, date in ((2, "06-24-2019"), (4, "nope")):
        await page.fill("#date", date)
        await page.click("#send")
        await expect(lines).to_have_count(count)

    assert await lines.all_inner_texts() == [
        ">> 06-24-2019",
        "it's Monday, do your job.",
        ">> nope",
        "error received: time data 'nope' does not match format '%m-%d-%Y'",
    ]


async def test_basic_page_says_disconnected_and_comes_back(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("basic")
    page = await open_page(sample.url)
    await expect(page.locator("#status")).to_contain_text("connected as ")

    assert await sample.stop() == 0
    await expect(page.locator("#status")).to_have_text("disconnected, reconnecting…")
    await expect(page.locator("#send")).to_be_disabled()
    await start_sample("basic", port=sample.port)

    await expect(page.locator("#status")).to_contain_text("connected as ", timeout=RESTART_TIMEOUT)
    await page.fill("#date", "06-29-2019")
    await page.click("#send")
    await expect(page.locator("#output > div")).to_have_text([">> 06-29-2019", "day off"])
