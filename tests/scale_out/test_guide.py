"""The Scale-out guide's programs run as written: two copies of the server share one Redis,
and the presence listener added to them tells each node's clients who joins on the other."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aioneffos.framework import Message, NSConn, dial
from support import readme
from tests.scale_out.processes import WAIT_TIMEOUT, Broker

pytestmark = pytest.mark.broker

GUIDE_REDIS_URL = "redis://127.0.0.1:6379/0"


def load_program(url: str) -> dict[str, Any]:
    """Run the guide's program (not as ``__main__``) on the broker at *url*, with its presence
    listener added."""
    source, presence = readme.blocks("python", doc="docs/guides/scale-out.md")
    assert GUIDE_REDIS_URL in source
    namespace: dict[str, Any] = {"__name__": "guide_scale_out"}
    exec(compile(source.replace(GUIDE_REDIS_URL, url), "<guide Scale-out>", "exec"), namespace)
    exec(compile(presence, "<guide Scale-out presence>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
async def test_guide_program_chat_crosses_nodes_on_one_redis(
    broker: Broker, serve: Callable[..., Awaitable[str]]
) -> None:
    first, second = load_program(broker.url), load_program(broker.url)
    urls = [await serve(app=program["app"], path="/ws") for program in (first, second)]
    got: asyncio.Queue[Message] = asyncio.Queue()

    def record(_: NSConn, msg: Message) -> None:
        got.put_nowait(msg)

    alice = await dial(urls[0], {"default": {"chat": record}})
    bob = await dial(urls[1], {"default": {"chat": record, "presence": record}})
    try:
        await bob.connect("default")
        alice_ns = await alice.connect("default")
        async with asyncio.timeout(WAIT_TIMEOUT):  # Bob's node tells him Alice joined on the other
            while (joined := (await got.get()).json())["id"] != alice.id:
                pass
        assert (joined["kind"], joined["room"], joined["node"]) == ("join", "", first["server"].node_id)
        assert await second["server"].exchange.synced(WAIT_TIMEOUT)

        alice_ns.emit("chat", "hi from node 1")

        async with asyncio.timeout(WAIT_TIMEOUT):
            message = await got.get()
        assert (message.event, message.body) == ("chat", b"hi from node 1")
        assert got.empty()
    finally:
        await asyncio.gather(alice.close(), bob.close())
