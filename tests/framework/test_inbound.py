"""`InboundLoop` on its own: built from a fake session, a scripted socket, a router and the
real `AskTable` and `Outbox`; no connection, no server, no network.

Each test steps the loop by feeding frames and waiting on what the router records; nothing
waits on time. A reader blocked in a handler reads nothing else, so "not read yet" is
checked on the socket's queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aioneffos.framework import BacklogFullError, Message, Options
from aioneffos.framework.asks import AskTable
from aioneffos.framework.inbound import InboundLoop
from aioneffos.framework.outbox import Outbox
from aioneffos.framework.protocol import Frame, Tokens
from support.waiting import Inbox, wait_for


class ScriptedSocket:
    """A `Socket` whose frames the test feeds; ``None`` ends it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.reads = 0
        self._read_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.close_code: int | None = None

    def feed(self, *frames: str | bytes | None) -> None:
        for frame in frames:
            self.queue.put_nowait(frame)

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        async with asyncio.timeout(timeout):
            data = await self.queue.get()
        self.reads += 1
        for count, waiter in self._read_waiters:
            if self.reads >= count and not waiter.done():
                waiter.set_result(None)
        return data

    async def read(self, count: int) -> None:
        """Wait until *count* frames have been read (and the reader has gone on until it waits)."""
        waiter = asyncio.get_running_loop().create_future()
        self._read_waiters.append((count, waiter))
        if self.reads >= count:
            waiter.set_result(None)
        await wait_for(waiter)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.close_code = code
        self.queue.put_nowait(None)
        return True


class RecordingSink:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.lost = False

    def write_now(self, frame: Frame) -> bool:
        self.written.append(frame.payload)
        return True

    async def write(self, frame: Frame) -> None:
        self.written.append(frame.payload)

    def abort(self) -> None:
        self.lost = True


class FakeSession:
    """What the loop asks of its connection, recorded."""

    def __init__(self) -> None:
        self.id = "c1"
        self.answered = ""
        self.errors: list[tuple[str, str]] = []
        self.ended = asyncio.Event()
        self.loop: InboundLoop[FakeSession] | None = None

    def reply_error(self, msg: Message, text: str) -> None:
        self.errors.append((msg.event, text))

    async def close(self, code: int = 1000, reason: str = "", *, drain: bool = True) -> None:
        self.ended.set()

    def socket_ended(self) -> None:
        self.ended.set()
        if self.loop is not None:
            self.loop.end(cancel_handler=False)

    async def pace(self) -> None:
        return None

    def keep_reading(self) -> None:  # the AskTable's reader
        assert self.loop is not None
        self.loop.keep_reading(start=True)


Route = Callable[[FakeSession, Message], Awaitable[None] | None]


class Rig:
    """One loop with its parts, and a router that records every message it is given."""

    def __init__(self, behaviour: dict[str, Callable[[Message], Awaitable[None]]], **options: Any) -> None:
        self.session = FakeSession()
        self.socket = ScriptedSocket()
        self.sink = RecordingSink()
        self.asks = AskTable(Tokens(), self.session)
        self.outbox = Outbox(self.sink, 64, lambda: None)
        self.routed = Inbox()
        self._behaviour = behaviour
        self.loop = InboundLoop(
            self.session, self.socket, self.route, self.asks, self.outbox, Options(**options)
        )
        self.session.loop = self.loop

    def route(self, session: FakeSession, msg: Message) -> Awaitable[None] | None:
        self.routed.put(msg.event)
        work = self._behaviour.get(msg.event)
        return work(msg) if work is not None else None

    async def run(self) -> None:
        await self.loop.run()

    async def end(self, reader: asyncio.Task[None]) -> None:
        """End the socket; wait until the loop has read to its end (in whichever task reads)."""
        self.socket.feed(None)
        await wait_for(self.session.ended.wait())
        await wait_for(reader)


def event(name: str, wait: str = "", body: str = "") -> str:
    return f"{wait};default;;{name};0;0;{body}"


async def test_handlers_run_one_at_a_time_in_order() -> None:
    gate = asyncio.Event()
    done = Inbox()

    async def slow(msg: Message) -> None:
        await gate.wait()
        done.put("slow done")

    rig = Rig({"slow": slow})
    reader = asyncio.create_task(rig.run())
    rig.socket.feed(event("slow"), event("next"))

    assert await rig.routed.get() == "slow"
    unread_while_slow_runs = rig.socket.queue.qsize()
    gate.set()
    assert (await done.get(), await rig.routed.get()) == ("slow done", "next")
    assert unread_while_slow_runs == 1  # the reader runs the handler: it reads nothing meanwhile

    await rig.end(reader)


async def test_a_reply_resumes_its_asker_before_anything_newer_is_handled() -> None:
    asked = Inbox()
    trace = Inbox()

    async def ask_back(msg: Message) -> None:
        token, pending = rig.asks.open()  # the handler asks the peer on its own connection
        asked.put(token)
        reply = await pending.wait(5.0, "question", "'c1'")
        trace.put(f"got {reply.text}")
        trace.put("ask_back done")

    async def after(msg: Message) -> None:
        trace.put("after")

    rig = Rig({"ask_back": ask_back, "after": after})
    reader = asyncio.create_task(rig.run())
    rig.socket.feed(event("ask_back", wait="$1"))
    token = await asked.get()
    # Reading moved to a fresh task: the reply and a newer message are read while
    # ask_back waits; the newer one waits in the backlog until ask_back is done.
    rig.socket.feed(event("question", wait=token, body="answer"), event("after"))

    assert [await trace.get() for _ in range(3)] == ["got answer", "ask_back done", "after"]
    assert rig.routed.entries == ["ask_back", "after"]  # the reply never reached the router

    await rig.end(reader)


async def test_an_asker_outside_any_handler_resumes_before_the_next_frame_is_routed() -> None:
    # docs/protocol.md#asker-first: a connect or join registers its namespace or room when
    # its ask resumes, and the peer may use it in the very next frame.
    trace = Inbox()

    async def next_frame(msg: Message) -> None:
        trace.put("next routed")

    rig = Rig({"next": next_frame})
    reader = asyncio.create_task(rig.run())
    token, pending = rig.asks.open()

    async def asker() -> None:
        await pending.wait(5.0, "connect", "'c1'")
        trace.put("asker resumed")

    waiting = asyncio.create_task(asker())
    rig.socket.feed(event("_OnNamespaceConnect", wait=token), event("next"))

    assert [await trace.get(), await trace.get()] == ["asker resumed", "next routed"]
    await wait_for(waiting)
    await rig.end(reader)


async def test_a_late_reply_is_dropped() -> None:
    rig = Rig({})
    token, _ = rig.asks.open()
    rig.asks.forget(token)  # the ask gave up
    reader = asyncio.create_task(rig.run())

    rig.socket.feed(event("question", wait=token, body="too late"), event("next"))

    assert await rig.routed.get() == "next"
    assert rig.routed.entries == ["next"]
    await rig.end(reader)


async def test_frames_received_before_the_handshake_come_first() -> None:
    rig = Rig({})
    rig.loop.read_first([event("early 1"), event("early 2")])
    rig.socket.feed(event("later"), None)

    await rig.run()

    assert rig.routed.entries == ["early 1", "early 2", "later"]


async def test_a_full_backlog_pauses_reading_until_the_handler_catches_up() -> None:
    asked = Inbox()
    gate = asyncio.Event()

    async def ask_back(msg: Message) -> None:
        token, pending = rig.asks.open()
        asked.put(token)
        await pending.wait(5.0, "question", "'c1'")
        await gate.wait()  # still busy, and no ask waits any more

    rig = Rig({"ask_back": ask_back}, inbound_backlog_size=2)
    reader = asyncio.create_task(rig.run())
    rig.socket.feed(event("ask_back"))
    token = await asked.get()
    rig.socket.feed(event("question", wait=token), event("m1"), event("m2"), event("m3"))

    await rig.socket.read(4)  # ask_back, the reply, m1, m2: then the backlog is full
    unread = rig.socket.queue.qsize()
    gate.set()
    await rig.end(reader)

    assert (unread, rig.routed.entries) == (1, ["ask_back", "m1", "m2", "m3"])


async def test_past_the_byte_budget_the_waiting_asks_give_up_and_nothing_is_lost() -> None:
    asked = Inbox()
    outcome = Inbox()

    async def ask_back(msg: Message) -> None:
        token, pending = rig.asks.open()
        asked.put(token)
        try:
            await pending.wait(5.0, "question", "'c1'")
        except BacklogFullError as exc:
            outcome.put(type(exc))

    rig = Rig({"ask_back": ask_back}, inbound_backlog_bytes=2000)
    reader = asyncio.create_task(rig.run())
    rig.socket.feed(event("ask_back"))
    await asked.get()
    rig.socket.feed(*(event(f"m{i}", body="x" * 500) for i in range(4)))

    assert await outcome.get() is BacklogFullError
    await rig.end(reader)
    assert rig.routed.entries == ["ask_back", "m0", "m1", "m2", "m3"]


async def test_the_end_of_the_socket_is_told_to_the_session() -> None:
    rig = Rig({})
    rig.socket.feed(event("only"), None)

    await rig.run()

    assert (rig.routed.entries, rig.session.ended.is_set()) == (["only"], True)


async def test_an_ask_from_the_peer_holds_other_frames_until_it_is_answered() -> None:
    # docs/protocol.md#reply-order: what the handler emits goes after its reply.
    async def answer(msg: Message) -> None:
        rig.outbox.put(Frame(b"emitted while handling", True))
        rig.session.answered = msg.wait
        rig.outbox.put(Frame(b"the reply", True), urgent=True)

    rig = Rig({"question": answer})
    rig.socket.feed(event("question", wait="$1"), None)

    await rig.run()

    assert rig.sink.written == [b"the reply", b"emitted while handling"]
