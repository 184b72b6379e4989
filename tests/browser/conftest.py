"""Fixtures of the browser tests: Debian's Chromium driven by Playwright (never a downloaded browser).

Playwright (a dev extra) only drives the browser; `playwright install` is never needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from support.sample_process import start_module, start_sample
from support.tools import REPO_ROOT, require_binary

__all__ = ["ARTIFACTS", "browser", "open_page", "start_module", "start_sample"]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
"""Screenshots land here (git-ignored)."""


def chromium_path() -> str:
    """Give Debian's Chromium, or skip (fail under CI=true) with how to install it."""
    return require_binary("chromium", "run `.ci/setup test` as root, or `apt-get install chromium`")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for one test."""
    path = chromium_path()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


OpenPage = Callable[[str], Awaitable[Page]]

# Headless Chromium never asks for the icon, a desktop browser always does: fetch what it would
# fetch (the page's <link rel=icon>, else /favicon.ico) so that a 404 there fails the test.
FETCH_ICON = """async () => {
  const link = document.querySelector('link[rel~="icon"]');
  const url = link ? link.href : new URL("/favicon.ico", location.href).href;
  return [url, (await fetch(url)).status];
}"""


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """Give ``await open_page(url)``: a new tab on *url*; the test fails if a page throws
    or if its icon is not found."""
    context = await browser.new_context()
    errors: list[str] = []

    async def open_tab(url: str) -> Page:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        await page.goto(url)
        icon, status = await page.evaluate(FETCH_ICON)
        if status >= 400:
            errors.append(f"{page.url}: the icon {icon} answered {status}")
        return page

    yield open_tab
    await context.close()
    assert errors == [], "uncaught errors in the page, or a missing icon"


def artifact(name: str) -> Path:
    """Give the path of test artifact *name*, creating the folder."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``browser`` (select them with ``-m browser``)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)
