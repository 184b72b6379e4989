"""The mvc_websocket page in Chromium: two tabs chat through the controller; a restart is survived."""

from __future__ import annotations

from playwright.async_api import Page, expect

from support.sample_process import StartSample

RESTART_TIMEOUT = 20_000  # ms: the server restarts, then neffos.js probes every second


async def say(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def test_mvc_websocket_page_passes_chat_to_the_other_tab(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("mvc_websocket")
    first = await open_page(sample.url)
    second = await open_page(sample.url)
    for page in (first, second):
        await expect(page.locator("#status")).to_contain_text("connected as ")

    await say(first, "hello")

    await expect(second.locator("#output > div")).to_have_text(["<< hello"])
    await expect(first.locator("#output > div")).to_have_text([">> hello"])


async def test_mvc_websocket_page_says_disconnected_and_comes_back(
    start_sample: StartSample, open_page
) -> None:
    sample = await start_sample("mvc_websocket")
    first = await open_page(sample.url)
    second = await open_page(sample.url)
    for page in (first, second):
        await expect(page.locator("#status")).to_contain_text("connected as ")

    assert await sample.stop() == 0
    for page in (first, second):
        await expect(page.locator("#status")).to_have_text("disconnected, reconnecting…")
        await expect(page.locator("#send")).to_be_disabled()
    await start_sample("mvc_websocket", port=sample.port)

    for page in (first, second):
        await expect(page.locator("#status")).to_contain_text("connected as ", timeout=RESTART_TIMEOUT)
    await say(first, "still here")
    await expect(second.locator("#output > div")).to_have_text(["<< still here"])
