"""The online_visitors pages in Chromium: each tab shows the live count of its page's viewers."""

from __future__ import annotations

from playwright.async_api import expect

from support.sample_process import StartSample


async def test_online_visitors_pages_show_live_counts_per_page(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("online_visitors")
    first = await open_page(sample.url)
    await expect(first.locator("#online_views")).to_have_text("1 online view")
    second = await open_page(sample.url)
    other = await open_page(sample.url + "other")

    await expect(first.locator("#online_views")).to_have_text("2 online views")
    await expect(second.locator("#online_views")).to_have_text("2 online views")
    await expect(other.locator("#online_views")).to_have_text("1 online view")
    await second.close()
    await expect(first.locator("#online_views")).to_have_text("1 online view")
