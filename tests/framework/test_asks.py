"""`AskTable` and `PendingReply`: tokens, waiting asks, late replies, on their own (no connection)."""

from __future__ import annotations

import asyncio

import pytest

from aioneffos.framework import (
    AskTimeoutError,
    BacklogFullError,
    Message,
    ReconnectingError,
    WriteClosedError,
)
from aioneffos.framework.asks import AskTable, PendingReply
from aioneffos.framework.protocol import Tokens
from support.waiting import wait_for


class Reader:
    def __init__(self) -> None:
        self.woken = 0

    def keep_reading(self) -> None:
        self.woken += 1


def reply(token: str, body: bytes = b"ok") -> Message:
    return Message("default", "question", body, wait=token)


async def test_open_makes_a_fresh_token_and_keeps_the_reader_reading() -> None:
    reader = Reader()
    table = AskTable(Tokens("$"), reader)

    first, _ = table.open()
    second, _ = table.open()

    assert (first, second, sorted(table.waiters), reader.woken, len(table)) == (
        "$1",
        "$2",
        ["$1", "$2"],
        2,
        2,
    )


async def test_a_reply_resolves_its_pending_ask() -> None:
    table = AskTable(Tokens(), Reader())
    token, pending = table.open()

    table.waiters.pop(token).resolve(reply(token))

    assert (await pending.wait(1.0, "question", "'c1'")).body == b"ok"


async def test_a_token_made_here_that_nothing_waits_for_is_late() -> None:
    table = AskTable(Tokens(), Reader())
    token, _ = table.open()
    table.forget(token)

    assert (table.is_late(token), table.is_late("99"), table.is_late("$1")) == (True, False, False)


async def test_wait_names_event_and_peer_when_no_reply_comes() -> None:
    table = AskTable(Tokens(), Reader())
    _, pending = table.open()

    with pytest.raises(AskTimeoutError, match=r"^no reply to 'question' from 'c1' within 0\.01s$"):
        await pending.wait(0.01, "question", "'c1'")


async def test_a_shared_ask_fails_only_once_every_asked_connection_is_gone() -> None:
    loop = asyncio.get_running_loop()
    shared = PendingReply(loop.create_future(), remaining=2)
    first, second = AskTable(Tokens(), Reader()), AskTable(Tokens(), Reader())
    first.expect("7", shared)
    second.expect("7", shared)

    first.lose_all()
    still_waiting = not shared.future.done()
    second.lose_all()

    assert still_waiting
    with pytest.raises(WriteClosedError, match="connection closed before replying"):
        await wait_for(shared.future)


async def test_lose_all_fails_with_the_error_given() -> None:
    table = AskTable(Tokens("$"), Reader())
    _, pending = table.open()

    table.lose_all(ReconnectingError("dropped"))

    assert (len(table), type(pending.future.exception())) == (0, ReconnectingError)


async def test_give_up_fails_every_waiting_ask() -> None:
    table = AskTable(Tokens(), Reader())
    asks = [table.open()[1] for _ in range(3)]

    table.give_up(BacklogFullError("too much meanwhile"))

    assert (len(table), [type(p.future.exception()) for p in asks]) == (0, [BacklogFullError] * 3)


async def test_the_first_reply_wins() -> None:
    pending = PendingReply(asyncio.get_running_loop().create_future(), remaining=2)

    pending.resolve(reply("1", b"first"))
    pending.resolve(reply("1", b"second"))

    assert (await wait_for(pending.future)).body == b"first"
