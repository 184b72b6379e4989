"""The Python client of the MVC websocket sample: chat from the terminal.

Run the server first, then ``python -m samples.mvc_websocket.client [--url ...]``; each
line typed is sent as ``OnChat``, and what the others send is printed.
"""

from __future__ import annotations

import argparse

from aioneffos.framework import Message, NSConn, dial
from samples.common import run_client, stdin_lines
from samples.mvc_websocket.app import NAMESPACE


async def on_chat(ns: NSConn, msg: Message) -> None:
    """Print a chat message from another client."""
    print(f"<< {msg.text}", flush=True)


async def main(url: str) -> None:
    """Send every line typed as ``OnChat`` until end of input."""
    conn = await dial(url, {NAMESPACE: {"OnChat": on_chat}})
    try:
        chat = await conn.connect(NAMESPACE)
        print(f"connected as {conn.id}; type a message and press Enter", flush=True)
        async for line in stdin_lines():
            if line:
                chat.emit("OnChat", line)
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Chat with the MVC websocket sample.")
    parser.add_argument(
        "--url",
        default="ws://127.0.0.1:8080/websocket_endpoint",
        help="server URL (default: %(default)s)",
    )
    url = parser.parse_args().url
    run_client(main(url), url)
