"""The request_response page in Chromium: the tab answers the server's ask and shows the poll."""

from __future__ import annotations

from playwright.async_api import expect

from aioneffos.framework import dial
from samples.request_response.client import question_events
from support.sample_process import StartSample


async def test_request_response_page_answers_and_shows_every_answer(
    start_sample: StartSample, open_page
) -> None:
    sample = await start_sample("request_response")
    refusing = {"default": question_events("py", refuse=True)}
    python = await dial(sample.ws_url, refusing, headers={"X-Username": "py"})
    await python.connect("default")
    try:
        page = await open_page(sample.url + "?name=tab")
        await expect(page.locator("#status")).to_have_text("connected as tab")
        await page.fill("#answer", "from the browser")
        await page.fill("#timeout", "1")
        await page.click("#ask")

        await expect(page.locator("#answers tr")).to_have_text(
            ["pyrefusedpy would rather not say", "tabansweredfrom the browser"]
        )
        await expect(page.locator("#asked")).to_have_text("asked: Lunch at noon?")
    finally:
        await python.close()


async def test_request_response_page_says_when_the_server_is_gone(
    start_sample: StartSample, open_page
) -> None:
    sample = await start_sample("request_response")
    page = await open_page(sample.url + "?name=tab")
    await expect(page.locator("#status")).to_have_text("connected as tab")

    assert await sample.stop() == 0
    await expect(page.locator("#status")).to_have_text("disconnected, reconnecting…")
    await page.click("#ask")
    await expect(page.locator("#elapsed")).to_have_text(
        "could not ask: cannot reach the server (is it running?)"
    )
