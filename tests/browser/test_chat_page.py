"""The chat demo in Chromium: two tabs talk, switch rooms, survive a server restart; a screenshot."""

from __future__ import annotations

from playwright.async_api import Page, expect

from support.sample_process import StartSample
from tests.browser.conftest import artifact

RESTART_TIMEOUT = 20_000  # ms: the server restarts, then neffos.js probes every second


async def joined(open_page, url: str, name: str) -> Page:
    """Open the chat as *name* and wait until it is in its first room."""
    page = await open_page(f"{url}?name={name}")
    await expect(page.locator("#status")).to_have_text(f"connected as {name}")
    await expect(page.locator("#text")).to_be_enabled()
    return page


async def say(page: Page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


def chat_lines(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#messages li.chat")


async def test_chat_page_message_from_one_tab_shows_in_the_other(
    start_sample: StartSample, open_page
) -> None:
    sample = await start_sample("chat")
    alice = await joined(open_page, sample.url, "alice")
    bob = await joined(open_page, sample.url, "bob")

    await say(alice, "hello bob")

    await expect(chat_lines(bob)).to_have_count(1)
    await expect(bob.locator("#messages li.chat .sender")).to_have_text(["alice"])
    await expect(bob.locator("#messages li.chat .text")).to_have_text(["hello bob"])
    await expect(alice.locator("#messages li.chat .text")).to_have_text(["hello bob"])
    await expect(alice.locator("#messages li.notice")).to_have_text(
        ["alice joined #general", "bob joined #general"]
    )
    await say(bob, "hi alice!")
    await expect(alice.locator("#messages li.chat .text")).to_have_text(["hello bob", "hi alice!"])
    await alice.screenshot(path=artifact("chat.png"))


async def test_chat_page_room_switch_changes_what_is_heard(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("chat")
    alice = await joined(open_page, sample.url, "alice")
    bob = await joined(open_page, sample.url, "bob")

    await bob.click("#rooms button[data-room=python]")
    await expect(bob.locator("#room-title")).to_have_text("#python")
    await expect(alice.locator("#messages li.notice").last).to_have_text("bob left #general")
    await say(bob, "anyone into asyncio?")
    await say(alice, "still in general")
    await expect(chat_lines(alice)).to_have_count(1)
    await alice.click("#rooms button[data-room=python]")

    # Alice reads what was said in #python before she came (the room's history).
    await expect(alice.locator("#room-title")).to_have_text("#python")
    await expect(alice.locator("#messages li.chat .text")).to_have_text(["anyone into asyncio?"])
    await expect(bob.locator("#messages li.chat .text")).to_have_text(["anyone into asyncio?"])
    await expect(bob.locator("#messages li.notice").last).to_have_text("alice joined #python")


async def test_chat_page_recovers_after_the_server_restarts(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("chat")
    alice = await joined(open_page, sample.url, "alice")
    bob = await joined(open_page, sample.url, "bob")
    await bob.click("#rooms button[data-room=random]")
    await expect(bob.locator("#room-title")).to_have_text("#random")
    await alice.click("#rooms button[data-room=random]")
    await expect(alice.locator("#room-title")).to_have_text("#random")

    assert await sample.stop() == 0
    await expect(alice.locator("#status")).to_have_text("disconnected, reconnecting…")
    await start_sample("chat", port=sample.port)

    for page, name in ((alice, "alice"), (bob, "bob")):
        await expect(page.locator("#status")).to_have_text(f"connected as {name}", timeout=RESTART_TIMEOUT)
        await expect(page.locator("#text")).to_be_enabled(timeout=RESTART_TIMEOUT)
    await say(alice, "we are back")
    await expect(bob.locator("#messages li.chat .text")).to_have_text(["we are back"])
    await expect(bob.locator("#room-title")).to_have_text("#random")  # neffos.js joined it again


async def test_chat_page_refused_name_shows_the_server_text(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("chat")
    page = await open_page(sample.url)

    await page.fill("#name", "   ")  # only spaces: the server's user_from_request refuses it
    await page.click("#login button")

    await expect(page.locator("#login-error")).to_have_text(
        "could not join: pick a name of 1 to 24 characters"
    )
    await expect(page.locator("#chat")).to_be_hidden()


async def test_chat_page_double_click_on_join_opens_one_connection(
    start_sample: StartSample, open_page
) -> None:
    sample = await start_sample("chat")
    page = await open_page(sample.url)
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))

    await page.fill("#name", "alice")
    await page.dblclick("#login button")
    await expect(page.locator("#text")).to_be_enabled()
    await say(page, "once")

    await expect(page.locator("#messages li.chat .text")).to_have_text(["once"])
    await expect(page.locator("#messages li.notice")).to_have_text(["alice joined #general"])
    assert len(sockets) == 1


async def test_chat_page_join_with_the_server_down_says_so(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("chat")
    page = await open_page(sample.url)
    assert await sample.stop() == 0

    await page.fill("#name", "alice")
    await page.click("#login button")

    await expect(page.locator("#login-error")).to_have_text(
        "could not join: cannot reach the server (is it running?)"
    )
    await expect(page.locator("#login button")).to_be_enabled()  # try again once it is back


async def test_chat_page_refused_room_keeps_the_heading_honest(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("chat")
    page = await open_page(f"{sample.url}?name=alice&room=lounge")

    await expect(page.locator("#room-error")).to_have_text(
        "could not join #lounge: no room 'lounge'; try one of general, random, python"
    )
    await expect(page.locator("#room-title")).to_have_text("#general")  # where it went instead
    await expect(page.locator("#text")).to_be_enabled()


async def test_chat_page_room_from_the_address_is_joined(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("chat")
    page = await open_page(f"{sample.url}?name=alice&room=python")

    await expect(page.locator("#messages li.notice")).to_have_text(["alice joined #python"])
    await expect(page.locator("#room-title")).to_have_text("#python")


async def test_chat_page_fits_a_phone_screen_with_long_words(start_sample: StartSample, open_page) -> None:
    sample = await start_sample("chat")
    page = await open_page(sample.url)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.fill("#name", "alice")
    await page.click("#login button")
    await expect(page.locator("#text")).to_be_enabled()

    await say(page, "a" * 300)
    await expect(page.locator("#messages li.chat .text")).to_have_text(["a" * 300])

    # Nothing is wider than the screen: no sideways scrolling, neither of the page nor of the messages.
    page_width, page_visible, box_width, box_visible = await page.evaluate(
        """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,
                  document.getElementById("messages").scrollWidth,
                  document.getElementById("messages").clientWidth]"""
    )
    assert page_width <= page_visible
    assert box_width <= box_visible
    await page.screenshot(path=artifact("chat-390px.png"))
