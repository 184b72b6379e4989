"""The browser guide's page, served by its ``page.py`` beside the ``app.py`` of Getting started,
works in Chromium as written."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from aioneffos.framework import dial
from support import readme
from support.tools import REPO_ROOT


async def test_browser_guide_page_hears_chat_and_shows_replies_and_errors(
    serve, open_page, tmp_path: Path
) -> None:
    (server_program,) = readme.blocks("python", "A first server", doc="docs/getting-started.md")
    (page_html,) = readme.blocks("html", doc="docs/guides/browser.md")
    (page_program,) = readme.blocks("python", doc="docs/guides/browser.md")
    (tmp_path / "index.html").write_text(page_html)
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules")  # `npm install neffos.js` there

    with readme.programs(tmp_path, {"app.py": server_program, "page.py": page_program}) as program:
        url = await serve(app=program.app, path="/ws")
        page = await open_page(url.replace("ws://", "http://").removesuffix("ws"))
        log = page.locator("#log li")
        await expect(log).to_have_text(["connected as browser"])

        python = await dial(url, {"default": {}}, headers={"X-Name": "py"})
        try:
            (await python.connect("default")).emit("chat", "hi from python")
            await expect(log).to_have_text(["connected as browser", "heard: hi from python"])
        finally:
            await python.close()
        for text in ("hello", ""):
            await page.fill("#text", text)
            await page.click("button")
        await expect(log).to_have_text(
            ["connected as browser", "heard: hi from python", "reply: HELLO", "error: nothing to shout"]
        )


async def test_browser_guide_page_says_when_the_websocket_is_not_there(
    serve, open_page, tmp_path: Path
) -> None:
    (page_html,) = readme.blocks("html", doc="docs/guides/browser.md")
    (page_program,) = readme.blocks("python", doc="docs/guides/browser.md")
    (tmp_path / "index.html").write_text(page_html)
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    no_websocket = "from aiohttp import web\n\napp = web.Application()  # no route at /ws\n"

    with readme.programs(tmp_path, {"app.py": no_websocket, "page.py": page_program}) as program:
        url = await serve(app=program.app, path="/")
        page = await open_page(url.replace("ws://", "http://"))
        log = page.locator("#log li")
        await expect(log).to_have_text(["could not connect: no websocket server at /ws"])
        await page.fill("#text", "hello")
        await page.click("button")
        await expect(log).to_have_text(["could not connect: no websocket server at /ws", "not connected"])
