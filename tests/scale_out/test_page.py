"""The scale-out sample's page in Chromium: two tabs on two nodes chat, whisper and count."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import OpenPage, artifact
from tests.scale_out.conftest import StartNodes
from tests.scale_out.processes import Node

pytestmark = [pytest.mark.broker, pytest.mark.browser]

TIMEOUT = 20_000  # ms


async def opened(open_page: OpenPage, node: Node) -> tuple[Page, str]:
    """Open the page on *node*; wait until its `hello` was answered; give the page and its id."""
    page = await open_page(f"http://127.0.0.1:{node.port}/")
    await expect(page.locator("#who")).to_contain_text("you are", timeout=TIMEOUT)
    who = await page.locator("#who").inner_text()
    return page, who.split()[2]


async def send(page: Page, line: str) -> None:
    await page.fill("#line", line)
    await page.press("#line", "Enter")


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
async def test_page_chat_and_whisper_cross_nodes(start_nodes: StartNodes, open_page: OpenPage) -> None:
    a, b = await start_nodes(2)
    alice, alice_id = await opened(open_page, a)
    bob, _ = await opened(open_page, b)

    await send(alice, "hello from node a")
    await expect(bob.locator("#log")).to_contain_text(f"{alice_id}: hello from node a", timeout=TIMEOUT)
    await send(bob, "/online")
    await expect(bob.locator("#log")).to_contain_text("online: 2", timeout=TIMEOUT)
    await send(bob, f"/whisper {alice_id} psst")
    await expect(alice.locator("#log")).to_contain_text("(whisper)", timeout=TIMEOUT)
    await expect(alice.locator("#log")).to_contain_text("psst")
    await alice.screenshot(path=artifact("scale_out.png"))


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
async def test_page_keeps_working_after_a_reconnect(start_nodes: StartNodes, open_page: OpenPage) -> None:
    a, b = await start_nodes(2)
    alice, alice_id = await opened(open_page, a)
    bob, _ = await opened(open_page, b)

    await send(bob, f"/kick {alice_id}")  # closed on node a; neffos.js dials again by itself
    await expect(alice.locator("#log")).to_contain_text("disconnected, reconnecting…", timeout=TIMEOUT)
    await expect(alice.locator("#who")).not_to_contain_text(alice_id, timeout=TIMEOUT)
    await expect(alice.locator("#who")).to_contain_text("you are", timeout=TIMEOUT)
    new_id = (await alice.locator("#who").inner_text()).split()[2]

    await send(alice, "back again")
    await expect(bob.locator("#log")).to_contain_text(f"{new_id}: back again", timeout=TIMEOUT)
    await send(alice, "/online")
    await expect(alice.locator("#log")).to_contain_text("online: 2", timeout=TIMEOUT)
    await expect(alice.locator("#log .err")).to_have_count(0)
