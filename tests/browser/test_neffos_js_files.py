"""Which neffos.js 0.1.34 file works in which kind of page, in Chromium: what the docs claim.

The Iris-style page of docs/migration.md (a classic ``<script>`` tag, the global ``neffos``) works with
``dist/neffos-es5.js``; the ES module build in such a tag fails with ``neffos is not
defined``, which is what a page copied from Iris's examples hits.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from support import readme
from support.tools import REPO_ROOT


def guide_programs(tmp_path: Path, page_html: str) -> dict[str, str]:
    """Write *page_html* as ``index.html`` beside the ``app.py`` of Getting started and the
    ``page.py`` of the browser guide."""
    (server_program,) = readme.blocks("python", "A first server", doc="docs/getting-started.md")
    (page_program,) = readme.blocks("python", doc="docs/guides/browser.md")
    (tmp_path / "index.html").write_text(page_html)
    (tmp_path / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    return {"app.py": server_program, "page.py": page_program}


async def test_migration_classic_script_page_with_neffos_es5_talks_to_the_server(
    serve, open_page, tmp_path: Path
) -> None:
    (classic_html,) = readme.blocks("html", doc="docs/migration.md")
    assert '<script src="/neffos.js/neffos-es5.js"></script>' in classic_html

    with readme.programs(tmp_path, guide_programs(tmp_path, classic_html)) as program:
        url = await serve(app=program.app, path="/ws")
        page = await open_page(url.replace("ws://", "http://").removesuffix("ws"))
        await expect(page.locator("#log li")).to_have_text(["connected as classic", "reply: CLASSIC"])


async def test_migration_classic_script_page_says_when_the_server_cannot_be_reached(
    serve, open_page, tmp_path: Path
) -> None:
    (classic_html,) = readme.blocks("html", doc="docs/migration.md")
    programs = guide_programs(tmp_path, classic_html)
    programs["app.py"] = "from aiohttp import web\n\napp = web.Application()  # no route at /ws\n"

    with readme.programs(tmp_path, programs) as program:
        url = await serve(app=program.app, path="/")
        page = await open_page(url.replace("ws://", "http://"))
        await expect(page.locator("#log li")).to_have_text(
            ["error: cannot reach the server at /ws (is it running?)"]
        )


async def test_es_module_build_in_a_classic_script_tag_leaves_neffos_undefined(
    serve, browser: Browser, tmp_path: Path
) -> None:
    (classic_html,) = readme.blocks("html", doc="docs/migration.md")
    module_in_classic_tag = classic_html.replace("neffos-es5.js", "neffos.min.js")

    with readme.programs(tmp_path, guide_programs(tmp_path, module_in_classic_tag)) as program:
        url = await serve(app=program.app, path="/ws")
        context = await browser.new_context()
        try:
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(url.replace("ws://", "http://").removesuffix("ws"))
            await expect(page.locator("#log li")).to_have_text(["error: neffos is not defined"])
            assert any("await is only valid" in error for error in errors), errors
        finally:
            await context.close()
