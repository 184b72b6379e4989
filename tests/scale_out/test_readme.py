"""README.md's Scale-out program runs as written: two copies of it share one Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aioneffos.framework import Message, NSConn, dial
from support import readme
from tests.scale_out.processes import WAIT_TIMEOUT, Broker

pytestmark = pytest.mark.broker

README_REDIS_URL = "redis://127.0.0.1:6379/0"


def load_program(url: str) -> dict[str, Any]:
    """Run the README's program (not as ``__main__``) on the broker at *url*."""
    (source,) = readme.blocks("python", "Scale-out")
    assert README_REDIS_URL in source
    namespace: dict[str, Any] = {"__name__": "readme_scale_out"}
    exec(compile(source.replace(README_REDIS_URL, url), "<README Scale-out>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
async def test_readme_program_chat_crosses_nodes_on_one_redis(
    broker: Broker, serve: Callable[..., Awaitable[str]]
) -> None:
    first, second = load_program(broker.url), load_program(broker.url)
    urls = [await serve(app=program["app"], path="/ws") for program in (first, second)]
    got: asyncio.Queue[Message] = asyncio.Queue()

    def record(_: NSConn, msg: Message) -> None:
        got.put_nowait(msg)

    alice = await dial(urls[0], {"default": {"chat": record}})
    bob = await dial(urls[1], {"default": {"chat": record}})
    try:
        alice_ns = await alice.connect("default")
        await bob.connect("default")
        assert await second["server"].exchange.synced(WAIT_TIMEOUT)

        alice_ns.emit("chat", "hi from node 1")

        async with asyncio.timeout(WAIT_TIMEOUT):
            message = await got.get()
        assert (message.event, message.body) == ("chat", b"hi from node 1")
        assert got.empty()
    finally:
        await asyncio.gather(alice.close(), bob.close())
