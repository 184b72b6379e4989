"""samples/chat: rooms, history and refusals in memory (`aioneffos.testing`); names through
neffos.js, the terminal client and a restart with the sample started as ``python -m samples.chat``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from aioneffos.framework import Conn, Message, NSConn, RemoteError, Room, dial
from aioneffos.testing import Clients, Recorder
from compat.node_client import RECORD, CommandError, NodeDriver
from samples.chat.app import make_app
from support.sample_process import StartModule, StartSample

NS = "chat"
TIMEOUT = 10.0
RESTART_TIMEOUT = 40.0  # the client redials after 1 s, doubling while the server is down


class Member:
    """A Python chat client that records what it receives."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.conn: Conn | None = None
        self.chat: NSConn | None = None

    def events(self) -> dict[str, Any]:
        async def record(ns: NSConn, msg: Message) -> None:
            body: Any = msg.err if msg.is_error else (msg.text if msg.event == "OnNotice" else msg.json())
            self.received.put_nowait((msg.event, body))

        return {"OnHistory": record, "OnChat": record, "OnNotice": record}

    async def next(self) -> tuple[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            return await self.received.get()

    async def join(self, room: str) -> Room:
        assert self.chat is not None
        return await self.chat.join_room(room)


@pytest.fixture
async def members() -> AsyncIterator[Any]:
    """Give ``await member(url, name)``: a Python client connected to "chat", closed at teardown."""
    opened: list[Member] = []

    async def member(url: str, name: str) -> Member:
        joined = Member()
        joined.conn = await dial(url, {NS: joined.events()}, headers={"X-Username": name})
        opened.append(joined)
        joined.chat = await joined.conn.connect(NS)
        return joined

    yield member
    for joined in opened:
        if joined.conn is not None:
            await joined.conn.close()


def said(room: Room, text: str) -> None:
    room.emit("OnChat", json.dumps({"text": text}))


def without_time(message: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(message.pop("at"), float)
    return message


async def chat_of(member: Member) -> dict[str, Any]:
    """The next thing *member* receives, which must be a chat message; without its time."""
    event, message = await member.next()
    assert event == "OnChat", (event, message)
    return without_time(message)


async def joined(neffos_client: Clients, app: web.Application, name: str) -> tuple[NSConn, Recorder]:
    """An in-memory client called *name*, connected to "chat"; its recorder."""
    rec = Recorder()
    conn = await neffos_client(app, rec, headers={"X-Username": name})
    return await conn.connect(NS), rec


def message_of(msg: Message) -> dict[str, Any]:
    """The chat message *msg* carries, without its time."""
    message: dict[str, Any] = msg.json()
    assert isinstance(message.pop("at"), float)
    return message


def received(rec: Recorder) -> list[tuple[str, Any]]:
    """Everything *rec* received so far, in order: notices as text, the rest as JSON (chat without time)."""
    return [
        (m.event, m.text if m.event == "OnNotice" else message_of(m) if m.event == "OnChat" else m.json())
        for m in rec.all()
    ]


async def test_chat_message_reaches_everyone_in_the_room(neffos_client: Clients) -> None:
    app = make_app()
    alice, alice_rec = await joined(neffos_client, app, "alice")
    bob, bob_rec = await joined(neffos_client, app, "bob")
    room = await alice.join_room("general")
    await alice_rec.next("OnNotice")
    await bob.join_room("general")
    await alice_rec.next("OnNotice")

    said(room, "  hello bob  ")

    expected = {"room": "general", "sender": "alice", "text": "hello bob"}
    assert (message_of(await bob_rec.next("OnChat")), message_of(await alice_rec.next("OnChat"))) == (
        expected,
        expected,
    )
    assert received(alice_rec) == [
        ("OnHistory", []),
        ("OnNotice", "alice joined #general"),
        ("OnNotice", "bob joined #general"),
        ("OnChat", expected),
    ]
    assert received(bob_rec) == [("OnHistory", []), ("OnNotice", "bob joined #general"), ("OnChat", expected)]


async def test_chat_newcomer_reads_the_room_history(neffos_client: Clients) -> None:
    app = make_app()
    alice, alice_rec = await joined(neffos_client, app, "alice")
    room = await alice.join_room("python")
    for text in ("first", "second"):
        said(room, text)
    await alice_rec.next("OnChat")
    await alice_rec.next("OnChat")

    carol, carol_rec = await joined(neffos_client, app, "carol")
    await carol.join_room("python")
    history = await carol_rec.next("OnHistory")

    assert [without_time(message) for message in history.json()] == [
        {"room": "python", "sender": "alice", "text": "first"},
        {"room": "python", "sender": "alice", "text": "second"},
    ]


async def test_chat_rooms_do_not_hear_each_other(neffos_client: Clients) -> None:
    app = make_app()
    alice, alice_rec = await joined(neffos_client, app, "alice")
    bob, bob_rec = await joined(neffos_client, app, "bob")
    general = await alice.join_room("general")
    random = await bob.join_room("random")

    said(general, "only for general")
    said(random, "only for random")

    assert message_of(await alice_rec.next("OnChat")) == {
        "room": "general",
        "sender": "alice",
        "text": "only for general",
    }
    assert message_of(await bob_rec.next("OnChat")) == {
        "room": "random",
        "sender": "bob",
        "text": "only for random",
    }
    assert [m.text for m in alice_rec.all("OnNotice")] == ["alice joined #general"]  # nothing from random


async def test_chat_leaving_tells_the_room(neffos_client: Clients) -> None:
    app = make_app()
    alice, alice_rec = await joined(neffos_client, app, "alice")
    bob, _ = await joined(neffos_client, app, "bob")
    await alice.join_room("general")
    room = await bob.join_room("general")

    await room.leave()

    notices = [(await alice_rec.next("OnNotice")).text for _ in range(3)]
    assert notices == ["alice joined #general", "bob joined #general", "bob left #general"]


async def test_chat_empty_and_malformed_messages_are_refused(neffos_client: Clients) -> None:
    alice, rec = await joined(neffos_client, make_app(), "alice")
    room = await alice.join_room("general")

    said(room, "   ")
    room.emit("OnChat", "not json")

    assert (await rec.next("OnChat")).err == "a message has 1 to 500 characters"
    assert (await rec.next("OnChat")).err == "invalid ChatText body: not JSON"


async def test_chat_unknown_room_is_refused(neffos_client: Clients) -> None:
    alice, _ = await joined(neffos_client, make_app(), "alice")

    with pytest.raises(RemoteError) as refused:
        await alice.join_room("secret")

    assert refused.value.text == "no room 'secret'; try one of general, random, python"


async def test_chat_name_comes_from_the_neffos_js_headers_option(
    start_sample: StartSample, driver: NodeDriver, members
) -> None:
    sample = await start_sample("chat")
    client = await driver.dial(
        sample.ws_url,
        {NS: {"OnHistory": RECORD, "OnNotice": RECORD, "OnChat": RECORD}},
        headers={"X-Username": "node-dave"},
    )
    await client.connect(NS)
    await client.join_room(NS, "general")
    bob = await members(sample.ws_url, "bob")
    await bob.join("general")
    await bob.next()  # history

    await client.room_emit(NS, "general", "OnChat", json.dumps({"text": "hi from node"}))

    notice = await client.wait_for("OnNotice", timeout=TIMEOUT)
    assert notice.text == "node-dave joined #general"
    assert await bob.next() == ("OnNotice", "bob joined #general")
    assert await chat_of(bob) == {"room": "general", "sender": "node-dave", "text": "hi from node"}


@pytest.mark.parametrize("headers", [{}, {"X-Username": "x" * 25}])
async def test_chat_connect_without_a_usable_name_is_refused(
    start_sample: StartSample, driver: NodeDriver, headers: dict[str, str]
) -> None:
    sample = await start_sample("chat")
    client = await driver.dial(sample.ws_url, {NS: {}}, headers=headers)

    with pytest.raises(CommandError) as refused:
        await client.connect(NS)

    assert refused.value.message == "pick a name of 1 to 24 characters"


async def test_chat_client_module_says_lines_and_prints_the_room(
    start_sample: StartSample, start_module: StartModule, members
) -> None:
    sample = await start_sample("chat")
    bob = await members(sample.ws_url, "bob")
    room = await bob.join("general")
    said(room, "before erin came")
    for _ in range(3):  # history, own notice, own message
        await bob.next()
    client = await start_module(
        "samples.chat.client", "--url", sample.ws_url, "--name", "erin", merge_stderr=True
    )
    assert client.stdin is not None
    assert client.stdout is not None

    async def line() -> str:
        async with asyncio.timeout(TIMEOUT):
            return (await client.stdout.readline()).decode().rstrip("\n")  # type: ignore[union-attr]

    printed = [await line(), await line()]
    assert await bob.next() == ("OnNotice", "erin joined #general")
    client.stdin.write(b"hello from the terminal\n")
    await client.stdin.drain()
    heard = await chat_of(bob)
    echoed = await line()
    client.stdin.close()
    async with asyncio.timeout(TIMEOUT):
        code = await client.wait()

    assert printed == ["[general] bob: before erin came", "* erin joined #general"]
    assert heard == {"room": "general", "sender": "erin", "text": "hello from the terminal"}
    assert (echoed, code) == ("[general] erin: hello from the terminal", 0)


async def test_chat_client_module_survives_a_server_restart(
    start_sample: StartSample, start_module: StartModule, members
) -> None:
    sample = await start_sample("chat")
    client = await start_module(
        "samples.chat.client", "--url", sample.ws_url, "--name", "erin", merge_stderr=True
    )
    assert client.stdin is not None
    assert client.stdout is not None

    async def line() -> str:
        async with asyncio.timeout(RESTART_TIMEOUT):
            return (await client.stdout.readline()).decode().rstrip("\n")  # type: ignore[union-attr]

    async def say(text: str) -> None:
        client.stdin.write(f"{text}\n".encode())  # type: ignore[union-attr]
        await client.stdin.drain()  # type: ignore[union-attr]

    assert await line() == "* erin joined #general"
    sample.process.kill()  # no goodbye: the socket just ends
    await sample.process.wait()
    await sample.stop()
    assert await line() == "* connection lost, reconnecting..."
    await say("while it is down")
    assert await line() == "! not sent (reconnecting): while it is down"

    restarted = await start_sample("chat", port=sample.port)
    assert await line() == "* erin joined #general"  # rejoined the room by itself
    bob = await members(restarted.ws_url, "bob")
    await bob.join("general")
    assert [await bob.next(), await bob.next()] == [("OnHistory", []), ("OnNotice", "bob joined #general")]
    await say("after the restart")

    assert await chat_of(bob) == {"room": "general", "sender": "erin", "text": "after the restart"}
    assert await line() == "* bob joined #general"
    assert await line() == "[general] erin: after the restart"
    client.stdin.close()
    async with asyncio.timeout(TIMEOUT):
        assert await client.wait() == 0
