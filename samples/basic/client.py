"""The Python client of the basic sample: type dates, read the answers.

Run the server first, then ``python -m samples.basic.client [--url ws://127.0.0.1:8080/ws]``.
"""

from __future__ import annotations

import argparse

from aioneffos.framework import Message, NSConn, RemoteError, WriteClosedError, dial
from samples.basic.server import NAMESPACE
from samples.common import run_client, stdin_lines


async def on_notify(ns: NSConn, msg: Message) -> None:
    """Print what the server pushes with the ``notify`` event."""
    print(f"Server says: {msg.text}", flush=True)


async def main(url: str) -> None:
    """Ask ``workday`` for every date typed, until end of input."""
    conn = await dial(url, {NAMESPACE: {"notify": on_notify}})
    try:
        v1 = await conn.connect(NAMESPACE)
        print("Please specify a date of format: mm-dd-yyyy", flush=True)
        async for date in stdin_lines():
            if not date:
                continue
            try:
                reply = await v1.ask("workday", date)
            except RemoteError as exc:  # the handler raised: its text comes back
                print(f"error received: {exc.text}", flush=True)
            except WriteClosedError:
                print("the server closed the connection", flush=True)
                return
            else:
                print(reply.text, flush=True)
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Ask the basic sample's server whether dates are workdays.")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="server URL (default: %(default)s)")
    url = parser.parse_args().url
    run_client(main(url), url)
