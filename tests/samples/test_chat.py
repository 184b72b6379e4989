"""samples/chat, started with ``python -m samples.chat``: rooms, history, names, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aioneffos.framework import Conn, Message, NSConn, RemoteError, Room, dial
from compat.node_client import RECORD, CommandError, NodeDriver
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


async def test_chat_message_reaches_everyone_in_the_room(start_sample: StartSample, members) -> None:
    sample = await start_sample("chat")
    alice = await members(sample.ws_url, "alice")
    bob = await members(sample.ws_url, "bob")
    room = await alice.join("general")
    assert [await alice.next(), await alice.next()] == [
        ("OnHistory", []),
        ("OnNotice", "alice joined #general"),
    ]
    await bob.join("general")
    assert [await bob.next(), await bob.next()] == [("OnHistory", []), ("OnNotice", "bob joined #general")]
    assert await alice.next() == ("OnNotice", "bob joined #general")

    said(room, "  hello bob  ")

    expected = {"room": "general", "sender": "alice", "text": "hello bob"}
    assert (await chat_of(bob), await chat_of(alice)) == (expected, expected)


async def test_chat_newcomer_reads_the_room_history(start_sample: StartSample, members) -> None:
    sample = await start_sample("chat")
    alice = await members(sample.ws_url, "alice")
    room = await alice.join("python")
    for text in ("first", "second"):
        said(room, text)
    for _ in range(4):  # history, own notice, own two messages
        await alice.next()

    carol = await members(sample.ws_url, "carol")
    await carol.join("python")
    event, history = await carol.next()

    assert event == "OnHistory"
    assert [without_time(message) for message in history] == [
        {"room": "python", "sender": "alice", "text": "first"},
        {"room": "python", "sender": "alice", "text": "second"},
    ]


async def test_chat_rooms_do_not_hear_each_other(start_sample: StartSample, members) -> None:
    sample = await start_sample("chat")
    alice = await members(sample.ws_url, "alice")
    bob = await members(sample.ws_url, "bob")
    general = await alice.join("general")
    random = await bob.join("random")
    for member in (alice, bob):
        await member.next()  # history
        await member.next()  # own join notice

    said(general, "only for general")
    said(random, "only for random")

    assert await chat_of(alice) == {"room": "general", "sender": "alice", "text": "only for general"}
    assert await chat_of(bob) == {"room": "random", "sender": "bob", "text": "only for random"}


async def test_chat_leaving_tells_the_room(start_sample: StartSample, members) -> None:
    sample = await start_sample("chat")
    alice = await members(sample.ws_url, "alice")
    bob = await members(sample.ws_url, "bob")
    await alice.join("general")
    room = await bob.join("general")
    for _ in range(3):  # alice: history, her notice, bob's notice
        await alice.next()

    await room.leave()

    assert await alice.next() == ("OnNotice", "bob left #general")


async def test_chat_empty_and_malformed_messages_are_refused(start_sample: StartSample, members) -> None:
    sample = await start_sample("chat")
    alice = await members(sample.ws_url, "alice")
    room = await alice.join("general")
    await alice.next()
    await alice.next()

    said(room, "   ")
    room.emit("OnChat", "not json")

    assert await alice.next() == ("OnChat", "a message has 1 to 500 characters")
    assert await alice.next() == ("OnChat", "invalid ChatText body: not JSON")


async def test_chat_unknown_room_is_refused(start_sample: StartSample, members) -> None:
    sample = await start_sample("chat")
    alice = await members(sample.ws_url, "alice")

    with pytest.raises(RemoteError) as refused:
        await alice.join("secret")

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
