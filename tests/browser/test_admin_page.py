"""The admin page in Chromium: an operator sees who is where and disconnects one; without the
token nothing shows; hostile ids stay text; another site cannot make the browser disconnect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from aioneffos.framework import Conn, Exchange, Server, admin, dial, setup
from aioneffos.framework import handler as websocket_handler
from aioneffos.framework.scaleout import MemoryBroker
from support.tools import free_port
from tests.browser.conftest import artifact

TOKEN = "browser-test-admin-token"
POLL_SECONDS = 0.2
GUARD = 10.0  # seconds: only so that a hang fails the test

OpenPage = Callable[[str], Awaitable[Page]]


class Site:
    """An aiohttp app on a free port: a chat server at /ws and its admin page at /admin."""

    def __init__(self, exchange: Exchange | None = None) -> None:
        self.port = free_port()
        self.server = Server(
            {"chat": {}}, id_generator=lambda request: request.headers["X-Id"], exchange=exchange
        )
        self.api_calls: list[tuple[str, str, int]] = []
        self.clients: list[Conn] = []
        self.runner: web.AppRunner | None = None

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/admin"

    async def start(self) -> None:
        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            try:
                response: web.StreamResponse = await handler(request)
            except web.HTTPException as exc:
                response = exc
            if request.path.startswith("/admin/api/"):
                self.api_calls.append((request.method, request.path, response.status))
            if isinstance(response, web.HTTPException):
                raise response
            return response

        app = web.Application(middlewares=[record])
        app.router.add_get("/ws", websocket_handler(self.server))
        setup(app, self.server)
        admin.setup(app, self.server, token=TOKEN, poll_seconds=POLL_SECONDS)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def client(self, conn_id: str, *rooms: str) -> Conn:
        """Dial as *conn_id*, connect to "chat" and join *rooms*."""
        conn = await dial(f"ws://127.0.0.1:{self.port}/ws", {"chat": {}}, headers={"X-Id": conn_id})
        self.clients.append(conn)
        ns = await conn.connect("chat")
        for room in rooms:
            await ns.join_room(room)
        return conn

    async def stop(self) -> None:
        for conn in self.clients:
            await conn.close()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    served = Site()
    await served.start()
    try:
        yield served
    finally:
        await served.stop()


async def test_admin_page_shows_who_is_where_and_disconnects_one(site: Site, open_page: OpenPage) -> None:
    await site.client("alice", "lobby")
    bob = await site.client("bob", "lobby", "kitchen")

    page = await open_page(f"{site.admin_url}#token={TOKEN}")

    ids = page.locator("#connections td.id")
    await expect(ids).to_have_text(["alice", "bob"])
    await expect(page.locator("#connections tbody tr").nth(1)).to_contain_text('"chat": kitchen, lobby')
    await expect(page.locator("#rooms tbody tr")).to_have_text(["chatkitchenbob", "chatlobbyalice, bob"])
    await expect(page.locator("#exchange")).to_have_text("LocalExchange, up")
    await expect(page.locator("#state")).to_have_text("accepting connections, ready")
    assert "token" not in page.url  # taken out of the address bar at once
    await page.screenshot(path=artifact("admin.png"), full_page=True)

    button = page.locator("#connections tbody tr", has_text="bob").get_by_role("button")
    await button.click()
    await expect(button).to_have_text("Really?")  # a second click confirms
    await button.click()

    await asyncio.wait_for(bob.wait_closed(), GUARD)
    assert bob.close_code == 1008
    await expect(ids).to_have_text(["alice"])
    assert site.server.total_connections == 1


async def test_admin_page_without_the_token_shows_nothing_but_the_form(
    site: Site, open_page: OpenPage
) -> None:
    await site.client("alice-private", "lobby")

    page = await open_page(site.admin_url)

    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("#view")).to_be_hidden()
    assert "alice-private" not in await page.content()
    assert ("GET", "/admin/api/state", 401) in site.api_calls
    await page.fill("#token", "a-wrong-token-of-some-length")
    await page.press("#token", "Enter")
    await expect(page.locator("#login-error")).to_have_text("this token was refused")
    await page.fill("#token", TOKEN)
    await page.press("#token", "Enter")
    await expect(page.locator("#connections td.id")).to_have_text(["alice-private"])
    await page.reload()  # the token is kept for this tab
    await expect(page.locator("#connections td.id")).to_have_text(["alice-private"])
    await page.click("#forget")
    await expect(page.locator("#view")).to_be_hidden()
    await expect(page.locator("#login")).to_be_visible()


async def test_admin_page_shows_hostile_ids_and_room_names_as_text(site: Site, open_page: OpenPage) -> None:
    hostile_id = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    hostile_room = "<b onmouseover=window.pwned=3>lobby</b>"
    await site.client(hostile_id, hostile_room)

    page = await open_page(f"{site.admin_url}#token={TOKEN}")

    await expect(page.locator("#connections td.id")).to_have_text([hostile_id])
    await expect(page.locator("#rooms td.id")).to_have_text([hostile_room])
    assert await page.locator("#view img, #view script, #view b").count() == 0
    assert await page.evaluate("window.pwned") is None


ATTACK_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cute cats</title><link rel="icon" href="data:,"></head>
<body>
<form id="forged" method="POST" action="{target}" enctype="text/plain">
  <input type="hidden" name='{{"key": "{key}", "x": "' value='"}}'>
</form>
<script>
  // 1. A fetch that cannot carry the token (no-cors) but would carry cookies or Basic auth.
  fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include",
                      headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{key: "{key}"}})}})
    .catch(() => null)
    // 2. A guessed Authorization header: the preflight is refused, the POST never leaves.
    .then(() => fetch("{target}", {{method: "POST", body: JSON.stringify({{key: "{key}"}}),
                                    headers: {{"Authorization": "Bearer guess",
                                               "Content-Type": "application/json"}}}})
      .catch(() => null))
    // 3. A plain form POST, as a CSRF page does.
    .then(() => {{ document.title = "submitting"; document.getElementById("forged").submit(); }});
</script>
</body></html>
"""


async def test_another_site_cannot_make_the_browser_disconnect_anyone(
    site: Site, open_page: OpenPage
) -> None:
    victim = await site.client("victim", "lobby")
    key = next(iter(site.server.connections)).key
    admin_tab = await open_page(f"{site.admin_url}#token={TOKEN}")  # the operator is logged in
    await expect(admin_tab.locator("#connections td.id")).to_have_text(["victim"])

    target = f"{site.admin_url}/api/disconnect"
    attacker = web.Application()
    page_html = ATTACK_PAGE.format(target=target, key=key)

    async def cute_cats(_: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    attacker.router.add_get("/", cute_cats)
    runner = web.AppRunner(attacker)
    await runner.setup()
    attacker_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", attacker_port).start()
    try:
        attack = await admin_tab.context.new_page()  # same browser profile, another origin
        await attack.goto(f"http://localhost:{attacker_port}/")
        await attack.wait_for_url(target, timeout=GUARD * 1000)  # the forged form went out
    finally:
        await runner.cleanup()

    posts = [call for call in site.api_calls if call[:2] == ("POST", "/admin/api/disconnect")]
    assert [status for *_, status in posts] == [401, 401]  # the no-cors fetch and the form
    assert ("OPTIONS", "/admin/api/disconnect", 405) in site.api_calls  # the guessed header's preflight
    assert (victim.is_closed, site.server.total_connections) == (False, 1)
    await expect(admin_tab.locator("#connections td.id")).to_have_text(["victim"])


async def test_admin_page_shows_an_exchange_that_lost_its_broker(open_page: OpenPage) -> None:
    broker = MemoryBroker(name="memory-broker")
    exchange = broker.exchange(reconnect_delay=0.01, reconnect_max=0.05)
    changes: asyncio.Queue[bool] = asyncio.Queue()
    exchange.add_health_listener(changes.put_nowait)
    served = Site(exchange)
    await served.start()
    try:
        assert await asyncio.wait_for(changes.get(), GUARD) is True
        page = await open_page(f"{served.admin_url}#token={TOKEN}")
        shown = page.locator("#exchange")
        counts = "0 published, 0 received, 0 dropped, 0 missed, 0 refused, 0 queued"
        await expect(shown).to_have_text(f"BusExchange on memory-broker, up ({counts})")
        await expect(shown).to_have_class("ok")
        broker.stop()
        assert await asyncio.wait_for(changes.get(), GUARD) is False
        await expect(shown).to_have_text(f"BusExchange on memory-broker, down ({counts})")
        await expect(shown).to_have_class("error")
    finally:
        await served.stop()
