"""samples/native_messages: its greeting in memory (`aioneffos.testing`), and the sample started
with ``python -m samples.native_messages``, driven by raw websockets (any websocket client works)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from aioneffos.framework import ON_NATIVE_MESSAGE
from aioneffos.testing import Clients, Recorder
from samples.native_messages.server import make_server
from support.sample_process import StartModule, StartSample

TIMEOUT = 10.0


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def next_frame(ws: aiohttp.ClientWebSocketResponse) -> tuple[aiohttp.WSMsgType, str | bytes]:
    async with asyncio.timeout(TIMEOUT):
        frame = await ws.receive()
    return frame.type, frame.data


async def joined(session: aiohttp.ClientSession, url: str) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    """Open a raw websocket and read the greeting (which also tells the server has registered it)."""
    ws = await session.ws_connect(url)
    kind, greeting = await next_frame(ws)
    assert kind is aiohttp.WSMsgType.TEXT
    assert isinstance(greeting, str)
    return ws, greeting


async def test_native_messages_greets_each_client_with_the_count(neffos_client: Clients) -> None:
    server = make_server()
    first, second = Recorder(), Recorder()

    await neffos_client(server, first)
    greeted = await first.next(ON_NATIVE_MESSAGE)
    await neffos_client(server, second)

    assert (greeted.text, greeted.is_native) == ("welcome! 1 connected", True)
    assert (await second.next(ON_NATIVE_MESSAGE)).text == "welcome! 2 connected"


async def test_native_messages_relays_text_to_the_others_only(
    start_sample: StartSample, session: aiohttp.ClientSession
) -> None:
    sample = await start_sample("native_messages")
    alice, _ = await joined(session, sample.ws_url)
    bob, _ = await joined(session, sample.ws_url)

    await alice.send_str("hello; not a neffos message")
    got_bob = await next_frame(bob)
    await bob.send_str("hi alice")
    got_alice = await next_frame(alice)  # the first frame alice gets: her own was not echoed

    assert got_bob == (aiohttp.WSMsgType.TEXT, "hello; not a neffos message")
    assert got_alice == (aiohttp.WSMsgType.TEXT, "hi alice")


async def test_native_messages_relays_binary_bytes_unchanged(
    start_sample: StartSample, session: aiohttp.ClientSession
) -> None:
    sample = await start_sample("native_messages")
    alice, _ = await joined(session, sample.ws_url)
    bob, _ = await joined(session, sample.ws_url)

    await alice.send_bytes(b"\x00\xff;;;;;;\x01")

    assert await next_frame(bob) == (aiohttp.WSMsgType.BINARY, b"\x00\xff;;;;;;\x01")


async def test_native_messages_client_module_sends_lines_and_prints_frames(
    start_sample: StartSample, start_module: StartModule, session: aiohttp.ClientSession
) -> None:
    sample = await start_sample("native_messages")
    bob, _ = await joined(session, sample.ws_url)
    client = await start_module("samples.native_messages.client", "--url", sample.ws_url)
    assert client.stdin is not None
    assert client.stdout is not None
    async with asyncio.timeout(TIMEOUT):
        greeting = await client.stdout.readline()  # it is connected once it printed the greeting
        client.stdin.write(b"from the terminal\n")
        await client.stdin.drain()
        got_bob = await next_frame(bob)
        await bob.send_str("back to you")
        printed = await client.stdout.readline()
        client.stdin.close()
        await client.wait()

    assert greeting.decode() == "welcome! 2 connected\n"
    assert got_bob == (aiohttp.WSMsgType.TEXT, "from the terminal")
    assert (printed.decode(), client.returncode) == ("back to you\n", 0)
