"""A Python participant of the request_response sample: answers the server's questions.

Run ``python -m samples.request_response.client --name bob [--answer TEXT] [--delay S] [--refuse]``;
a delay longer than the poll's timeout shows up as ``timed out`` on the server.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aioneffos.framework import Events, Message, NSConn, dial
from samples.common import run_client
from samples.request_response.server import NAMESPACE


def question_events(name: str, *, answer: str = "yes", delay: float = 0.0, refuse: bool = False) -> Events:
    """Give the handlers of a participant that answers *answer* after *delay*, or refuses."""

    async def on_question(ns: NSConn, msg: Message) -> str | None:
        print(f"asked: {msg.text}", flush=True)
        await asyncio.sleep(delay)
        if refuse:
            raise PermissionError(f"{name} would rather not say")  # an error reply
        return answer  # the reply

    return Events({"question": on_question})


async def main(url: str, name: str, answer: str, delay: float, refuse: bool) -> None:
    """Connect as *name* and answer questions until Ctrl+C (or SIGTERM) or the server goes away."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    events = question_events(name, answer=answer, delay=delay, refuse=refuse)
    conn = await dial(url, {NAMESPACE: events}, headers={"X-Username": name})
    try:
        await conn.connect(NAMESPACE)
        print(f"connected as {conn.id}; waiting for questions (Ctrl+C to quit)", flush=True)
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(conn.wait_closed())]
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Answer the request_response sample's questions.")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="server URL (default: %(default)s)")
    parser.add_argument("--name", default="python", help="the name the server shows (default: %(default)s)")
    parser.add_argument("--answer", default="yes", help="what to answer (default: %(default)s)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to think before answering")
    parser.add_argument("--refuse", action="store_true", help="answer with an error instead")
    args = parser.parse_args()
    run_client(main(args.url, args.name, args.answer, args.delay, args.refuse), args.url)
