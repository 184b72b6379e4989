"""`Outbox`, the per-connection outbound queue, against a fake socket whose readiness we control."""

from __future__ import annotations

import asyncio

import pytest

from aioneffos.framework.outbox import Outbox
from aioneffos.framework.protocol import Frame
from support.waiting import wait_for


class FakeSink:
    """A socket: writes at once while ``ready``, else waits for ``release()``; records the order."""

    def __init__(self) -> None:
        self.ready = True
        self.written: list[bytes] = []
        self.fail: Exception | None = None
        self._gate = asyncio.Event()
        self.waiting = asyncio.Event()

    def write_now(self, frame: Frame) -> bool:
        if not self.ready:
            return False
        self.written.append(frame.payload)
        return True

    async def write(self, frame: Frame) -> None:
        self.waiting.set()
        await self._gate.wait()
        if self.fail is not None:
            raise self.fail
        self.written.append(frame.payload)

    def release(self) -> None:
        self._gate.set()


def frame(text: str) -> Frame:
    return Frame(text.encode(), True)


class Overflow:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


async def test_put_writes_at_once_when_socket_is_ready() -> None:
    sink = FakeSink()
    outbox = Outbox(sink, 4, Overflow())
    assert (outbox.put(frame("a")), sink.written, len(outbox)) == (True, [b"a"], 0)


async def test_put_queues_in_order_when_socket_is_busy() -> None:
    sink = FakeSink()
    sink.ready = False
    outbox = Outbox(sink, 4, Overflow())
    for name in "abc":
        outbox.put(frame(name))
    assert len(outbox) == 3
    sink.release()
    await wait_for(outbox.drain())
    assert (sink.written, len(outbox)) == ([b"a", b"b", b"c"], 0)


async def test_urgent_frames_jump_ahead_of_queued_ones_in_their_own_order() -> None:
    sink = FakeSink()
    sink.ready = False
    outbox = Outbox(sink, 8, Overflow())
    outbox.put(frame("a"))
    outbox.put(frame("b"))
    outbox.put(frame("reply1"), urgent=True)
    outbox.put(frame("reply2"), urgent=True)
    outbox.put(frame("c"))
    sink.release()
    await wait_for(outbox.drain())
    assert sink.written == [b"reply1", b"reply2", b"a", b"b", b"c"]


async def test_urgent_frame_does_not_overtake_frame_being_written() -> None:
    sink = FakeSink()
    sink.ready = False
    outbox = Outbox(sink, 8, Overflow())
    outbox.put(frame("a"))
    outbox.put(frame("b"))
    await wait_for(sink.waiting.wait())  # "a" is being written now
    outbox.put(frame("reply"), urgent=True)
    sink.release()
    await wait_for(outbox.drain())
    assert sink.written == [b"a", b"reply", b"b"]


async def test_overflow_closes_outbox_and_calls_back_once() -> None:
    sink = FakeSink()
    sink.ready = False
    overflow = Overflow()
    outbox = Outbox(sink, 3, overflow)
    accepted = [outbox.put(frame(str(i))) for i in range(5)]
    assert (accepted, overflow.calls, outbox.closed, len(outbox)) == (
        [True, True, True, False, False],
        1,
        True,
        0,
    )


async def test_writes_after_drain_go_straight_to_socket_again() -> None:
    sink = FakeSink()
    sink.ready = False
    outbox = Outbox(sink, 4, Overflow())
    outbox.put(frame("queued"))
    sink.release()
    await wait_for(outbox.drain())
    sink.ready = True
    outbox.put(frame("direct"))
    assert sink.written == [b"queued", b"direct"]


async def test_close_drops_queued_frames_and_refuses_new_ones() -> None:
    sink = FakeSink()
    sink.ready = False
    outbox = Outbox(sink, 4, Overflow())
    outbox.put(frame("a"))
    outbox.put(frame("b"))
    outbox.close()
    await wait_for(outbox.drain())
    sink.release()
    assert (outbox.put(frame("c")), outbox.closed, sink.written) == (False, True, [])


async def test_socket_error_stops_outbox() -> None:
    sink = FakeSink()
    sink.ready = False
    sink.fail = ConnectionResetError("gone")
    outbox = Outbox(sink, 4, Overflow())
    outbox.put(frame("a"))
    outbox.put(frame("b"))
    sink.release()
    await wait_for(outbox.drain())
    assert (outbox.closed, outbox.put(frame("c")), sink.written) == (True, False, [])


async def test_drain_without_queue_returns_at_once() -> None:
    outbox = Outbox(FakeSink(), 4, Overflow())
    await wait_for(outbox.drain(), 0.5)
    assert len(outbox) == 0


@pytest.mark.parametrize("drainers", [1, 2])
async def test_drain_wakes_every_waiter(drainers: int) -> None:
    sink = FakeSink()
    sink.ready = False
    outbox = Outbox(sink, 4, Overflow())
    outbox.put(frame("a"))
    waiting = [asyncio.ensure_future(outbox.drain()) for _ in range(drainers)]
    await asyncio.sleep(0)
    sink.release()
    await wait_for(asyncio.gather(*waiting), 1)
    assert sink.written == [b"a"]


# -- byte budget ----------------------------------------------------------------------


async def test_overflow_by_bytes_before_the_frame_count() -> None:
    sink = FakeSink()
    sink.ready = False
    overflow = Overflow()
    outbox = Outbox(sink, 100, overflow, limit_bytes=10)
    accepted = [outbox.put(frame(text)) for text in ("abcd", "efgh", "ij", "k")]
    assert (accepted, overflow.calls, outbox.closed) == ([True, True, True, False], 1, True)


async def test_queued_bytes_count_only_frames_that_wait_and_go_down_as_they_are_written() -> None:
    sink = FakeSink()
    outbox = Outbox(sink, 100, Overflow(), limit_bytes=10)
    outbox.put(frame("written at once"))
    sink.ready = False
    outbox.put(frame("abc"))
    outbox.put(frame("de"), urgent=True)
    queued = outbox.queued_bytes
    sink.release()
    await wait_for(outbox.drain())
    assert (queued, outbox.queued_bytes, sink.written) == (5, 0, [b"written at once", b"de", b"abc"])


async def test_one_frame_bigger_than_the_byte_budget_still_queues() -> None:
    sink = FakeSink()
    sink.ready = False
    overflow = Overflow()
    outbox = Outbox(sink, 100, overflow, limit_bytes=4)
    assert (outbox.put(frame("a frame of 24 bytes.....")), overflow.calls) == (True, 0)
    sink.release()
    await wait_for(outbox.drain())
    assert sink.written == [b"a frame of 24 bytes....."]


async def test_held_outbox_past_byte_budget_gives_up_the_hold_first() -> None:
    sink = FakeSink()
    overflow = Overflow()
    outbox = Outbox(sink, 100, overflow, limit_bytes=6)
    outbox.hold()
    outbox.put(frame("abc"))
    outbox.put(frame("def"))
    assert outbox.put(frame("ghi")) is True  # released: the socket takes everything
    assert (overflow.calls, sink.written) == (0, [b"abc", b"def", b"ghi"])


async def test_close_forgets_the_queued_bytes() -> None:
    sink = FakeSink()
    sink.ready = False
    outbox = Outbox(sink, 100, Overflow(), limit_bytes=100)
    outbox.put(frame("abc"))
    outbox.put(frame("def"))
    outbox.close()
    assert outbox.queued_bytes == 0
