"""The chat from a terminal: ``python -m samples.chat.client --name bob [--room general] [--url ...]``.

Prints the room's history and everything said after it; each line typed is said in the room.
When the server restarts, the client dials again and rejoins the room by itself; a line
typed while it is away is not sent, and it says so.
"""

from __future__ import annotations

import argparse
import json

from aioneffos.framework import (
    ON_NAMESPACE_DISCONNECT,
    Events,
    Message,
    NSConn,
    ReconnectingError,
    RemoteError,
    WriteClosedError,
    dial,
)
from samples.chat.controller import NAMESPACE
from samples.common import ExitError, run_client, stdin_lines


def show(message: dict[str, object]) -> None:
    """Print one chat message."""
    print(f"[{message['room']}] {message['sender']}: {message['text']}", flush=True)


async def on_history(ns: NSConn, msg: Message) -> None:
    for message in msg.json():
        show(message)


async def on_chat(ns: NSConn, msg: Message) -> None:
    if msg.is_error:  # the server refused what we said
        print(f"! {msg.err}", flush=True)
    else:
        show(msg.json())


async def on_notice(ns: NSConn, msg: Message) -> None:
    print(f"* {msg.text}", flush=True)


async def on_disconnect(ns: NSConn, msg: Message) -> None:
    if ns.conn.is_reconnecting:  # the server went away; the client dials again by itself
        print("* connection lost, reconnecting...", flush=True)


EVENTS = Events(
    {
        "OnHistory": on_history,
        "OnChat": on_chat,
        "OnNotice": on_notice,
        ON_NAMESPACE_DISCONNECT: on_disconnect,
    }
)


async def main(url: str, name: str, room_name: str) -> None:
    """Join *room_name* as *name*; say every line typed until end of input."""
    conn = await dial(url, {NAMESPACE: EVENTS}, headers={"X-Username": name}, reconnect=1.0)
    try:
        try:
            chat = await conn.connect(NAMESPACE)
        except RemoteError as exc:  # user_from_request refused the name
            raise ExitError(f"could not join the chat: {exc.text}") from None
        try:
            room = await chat.join_room(room_name)
        except RemoteError as exc:  # OnRoomJoin refused the room
            raise ExitError(f"could not join #{room_name}: {exc.text}") from None
        async for text in stdin_lines():
            if not text:
                continue
            try:
                room.emit("OnChat", json.dumps({"text": text}))  # the same Room after a reconnection
            except ReconnectingError:
                print(f"! not sent (reconnecting): {text}", flush=True)
            except WriteClosedError as exc:  # gone for good (the server refused to restore it)
                raise ExitError(str(exc)) from None
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Chat from the terminal.")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="server URL (default: %(default)s)")
    parser.add_argument("--name", required=True, help="your name in the chat")
    parser.add_argument("--room", default="general", help="the room to join (default: %(default)s)")
    args = parser.parse_args()
    run_client(main(args.url, args.name, args.room), args.url)
