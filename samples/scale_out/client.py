"""A terminal chat client for the scale-out sample: ``python -m samples.scale_out.client --url ws://127.0.0.1:8081/ws``.

Type text to chat with everyone; commands: ``/join room``, ``/say room text``,
``/whisper id text``, ``/poke id``, ``/kick id``, ``/online``, ``/health``, ``/who [room]``,
``/invite id room``, ``/quit``. Who joins and leaves, on any node, is shown as it happens.
"""

from __future__ import annotations

import argparse

from aioneffos.framework import (
    ON_NAMESPACE_CONNECTED,
    ON_NAMESPACE_DISCONNECT,
    Handler,
    Message,
    NeffosError,
    NSConn,
    dial,
)
from samples.common import run_client, stdin_lines

from .app import NAMESPACE


def _show(text: str) -> None:
    print(text, flush=True)


def _handlers() -> dict[str, Handler]:
    def chat(_: NSConn, msg: Message) -> None:
        data = msg.json()
        _show(f"{data['from']}: {data['text']}")

    def say(_: NSConn, msg: Message) -> None:
        data = msg.json()
        _show(f"[{msg.room}] {data['from']}: {data['text']}")

    def whisper(_: NSConn, msg: Message) -> None:
        data = msg.json()
        _show(f"(whisper) {data['from']}: {data['text']}")

    def system(_: NSConn, msg: Message) -> None:
        _show(f"* broker link {msg.json()['broker']}")

    def presence(ns: NSConn, msg: Message) -> None:
        data = msg.json()
        if data["id"] == ns.conn.id:
            return  # our own joins and leaves
        where = f"room {data['room']}" if data["room"] else "the chat"
        did = "joined" if data["kind"] == "join" else "left"
        _show(f"* {data['id']} {did} {where} (node {data['node'][:8]})")

    def poke(ns: NSConn, _: Message) -> str:
        return f"pong from {ns.conn.id}"

    def connected(ns: NSConn, _: Message) -> None:
        if ns.conn.was_reconnected:  # the same NSConn, a new connection (and id)
            _show(f"* reconnected: you are {ns.conn.id}")

    def disconnected(ns: NSConn, _: Message) -> None:
        if not ns.conn.closed_by_us:  # the node went away or kicked us: the client dials again
            _show("* disconnected, reconnecting…")

    return {
        "chat": chat,
        "say": say,
        "whisper": whisper,
        "system": system,
        "presence": presence,
        "poke": poke,
        ON_NAMESPACE_CONNECTED: connected,
        ON_NAMESPACE_DISCONNECT: disconnected,
    }


async def _run_command(ns: NSConn, line: str) -> None:
    command, _, rest = line.partition(" ")
    arg, _, text = rest.partition(" ")
    if command == "/join":
        await ns.join_room(arg)
        await ns.ask("hello")  # answers once the room is subscribed cluster-wide
        _show(f"* joined {arg}")
    elif command == "/say":
        room = ns.room(arg)
        if room is None:
            _show(f"* not in room {arg}")
        else:
            room.emit("say", text)  # raises (shown as "! ...") while reconnecting
            _show(f"[{arg}] me: {text}")
    elif command == "/whisper":
        ns.emit("whisper", {"to": arg, "text": text})
    elif command == "/poke":
        _show(f"* {arg} answered: {(await ns.ask('poke', arg)).text}")
    elif command == "/kick":
        await ns.ask("kick", arg)
    elif command == "/who":
        who = (await ns.ask("who", arg)).json()
        members = ", ".join(f"{m['id']} (node {m['node'][:8]})" for m in who["members"]) or "nobody"
        rooms = ", ".join(f"{room}: {count}" for room, count in who["rooms"].items())
        _show(f"* {arg or 'chat'}: {members}" + (f"; rooms {rooms}" if rooms and not arg else ""))
    elif command == "/invite":
        await ns.ask("invite", {"id": arg, "room": text})
        _show(f"* {arg} is in room {text}")
    elif command in ("/online", "/health"):
        _show(f"* {command[1:]}: {(await ns.ask(command[1:])).text}")
    else:
        _show(f"* unknown command {command}")


async def main(url: str) -> None:
    """Chat on *url* until ``/quit`` or end of input."""
    conn = await dial(url, {NAMESPACE: _handlers()}, reconnect=1.0)
    try:
        ns = await conn.connect(NAMESPACE)
        me = (await ns.ask("hello")).json()
        _show(f"* you are {me['id']} on node {me['node'][:8]} (type /quit to leave)")
        async for line in stdin_lines():
            if line == "/quit":
                break
            if not line:
                continue
            try:
                if line.startswith("/"):
                    await _run_command(ns, line)
                else:
                    ns.emit("chat", line)
                    _show(f"me: {line}")
            except NeffosError as exc:
                _show(f"! {exc}")
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Chat with every node of the scale-out sample.")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="a node's URL (default: %(default)s)")
    url = parser.parse_args().url
    run_client(main(url), url)
