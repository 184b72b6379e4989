"""A raw Python websocket client for the native_messages sample: aiohttp only, no neffos protocol.

Each line typed is sent as a text frame; each frame received is printed.
Run ``python -m samples.native_messages.client [--url ws://127.0.0.1:8080/ws]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiohttp

from samples.common import run_client


async def print_incoming(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Print every frame the server relays until the socket closes."""
    async for frame in ws:
        if frame.type is aiohttp.WSMsgType.TEXT:
            print(frame.data, flush=True)
        elif frame.type is aiohttp.WSMsgType.BINARY:
            print(f"<{len(frame.data)} bytes: {frame.data.hex()}>", flush=True)


async def main(url: str) -> None:
    """Send stdin lines, print what arrives, until end of input."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        incoming = asyncio.create_task(print_incoming(ws))
        while line := await stdin.readline():
            text = line.decode().rstrip("\n")
            if text:
                await ws.send_str(text)
        await ws.close()
        await incoming


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Talk to the native_messages sample with a raw websocket.")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="server URL (default: %(default)s)")
    url = parser.parse_args().url
    run_client(main(url), url)
