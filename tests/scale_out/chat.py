"""A Python chat client of the scale-out sample for tests: every event lands in a queue."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

from aioneffos.framework import Conn, Message, NSConn, dial
from tests.scale_out.processes import WAIT_TIMEOUT

NAMESPACE = "chat"
EVENTS = ("chat", "say", "whisper", "system", "presence")


class ChatClient:
    """One dialled connection to a node, connected to ``chat``; answers ``poke`` with its id."""

    def __init__(self) -> None:
        self.inbox: defaultdict[str, asyncio.Queue[Message]] = defaultdict(asyncio.Queue)
        self.presence_seen: list[dict[str, str]] = []
        """The presence events taken from the inbox so far (by `presence`)."""
        self.conn: Conn
        self.ns: NSConn

    @classmethod
    async def open(cls, url: str, *, hello: bool = True, **options: Any) -> ChatClient:
        """Dial *url* (with `dial` *options*), connect to ``chat`` and, with *hello*, say hello
        (answered once the node's subscriptions are live)."""
        client = cls()

        def record(_: NSConn, msg: Message) -> None:
            client.inbox[msg.event].put_nowait(msg)

        def poke(ns: NSConn, _: Message) -> str:
            return f"pong from {ns.conn.id}"

        handlers: dict[str, Any] = dict.fromkeys(EVENTS, record)
        handlers["poke"] = poke
        client.conn = await dial(url, {NAMESPACE: handlers}, **options)
        client.ns = await client.conn.connect(NAMESPACE)
        if hello:
            answer = (await client.ns.ask("hello")).json()
            assert (answer["id"], answer["synced"]) == (client.id, True)
        return client

    @property
    def id(self) -> str:
        """Give this connection's id."""
        return self.conn.id

    async def next(self, event: str, timeout: float = WAIT_TIMEOUT) -> Message:
        """Give the next *event* this client received, waiting for it."""
        async with asyncio.timeout(timeout):
            return await self.inbox[event].get()

    async def next_json(self, event: str) -> Any:
        """Give the JSON body of the next *event*."""
        return json.loads((await self.next(event)).body)

    async def ask_text(self, event: str, body: str = "") -> str:
        """Ask *event* and give the reply's text."""
        return (await self.ns.ask(event, body)).text

    async def presence(self, kind: str, conn_id: str, room: str = "") -> dict[str, str]:
        """Wait for a presence event of *kind* for *conn_id* (in *room*), received now or earlier;
        give it."""
        while True:
            for got in self.presence_seen:
                if (got["kind"], got["id"], got["room"]) == (kind, conn_id, room):
                    return got
            self.presence_seen.append(await self.next_json("presence"))

    def pending(self, event: str) -> int:
        """Count the *event* messages received and not yet taken."""
        return self.inbox[event].qsize()

    async def join(self, room: str) -> None:
        """Join *room* and wait until the node listens to it cluster-wide."""
        await self.ns.join_room(room)
        hello = (await self.ns.ask("hello")).json()
        assert (room in hello["rooms"], hello["synced"]) == (True, True)
