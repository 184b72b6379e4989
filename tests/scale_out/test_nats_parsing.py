"""The NATS link's parser: direct subscriptions' messages handed on as parsed, the rest to nats-py."""

from __future__ import annotations

import random
from typing import Any

import pytest

pytest.importorskip("nats")

from aioneffos.framework.scaleout.nats import _direct_client

STREAM = (
    b"MSG a.b 1 5\r\nfirst\r\n"
    b"PING\r\n"
    b"MSG a.b 2 3\r\nnot\r\n"  # sid 2 is not direct: nats-py's way
    b"MSG a.b 1 _INBOX.x.7 6\r\nreply?\r\n"  # a reply subject: nats-py's way, still handed on
    b"HMSG _INBOX.x.7 3 _INBOX.x.7 12 12\r\nNATS/1.0\r\n\r\n\r\n"
    b"MSG a.b 1 0\r\n\r\n"
    b"MSG a.b 1 13\r\nsplit\r\nacross\r\n"
    b"+OK\r\n"
    b"MSG a.b 1 4\r\nlast\r\n"
)


class Recorder:
    """What the parser calls on its client (a stand-in for the connection)."""

    def __init__(self, direct: dict[int, Any]) -> None:
        self.direct = direct
        self.options = {"name": "test"}
        self.processed: list[tuple[int, bytes, bytes]] = []
        self.pings = 0

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: Any) -> None:
        deliver = self.direct.get(sid)
        if deliver is not None:
            deliver(data)
        else:
            self.processed.append((sid, bytes(reply), data))

    async def _process_ping(self) -> None:
        self.pings += 1


@pytest.mark.parametrize("seed", range(20))
async def test_messages_arrive_whole_and_in_order_however_the_stream_is_cut(seed: int) -> None:
    client = _direct_client()
    assert client is not None
    handed: list[bytes] = []
    recorder = Recorder({1: handed.append})
    parser = type(client()._ps)(recorder)
    cuts = sorted(random.Random(seed).sample(range(1, len(STREAM)), 8))
    for start, end in zip([0, *cuts], [*cuts, len(STREAM)], strict=True):
        await parser.parse(STREAM[start:end])

    assert handed == [b"first", b"reply?", b"", b"split\r\nacross", b"last"]
    assert recorder.processed == [(2, b"", b"not"), (3, b"_INBOX.x.7", b"")]
    assert (recorder.pings, bytes(parser.buf)) == (1, b"")
