"""`ChatController`: the ``chat`` namespace, one instance per connected browser tab or client.

Its two dependencies come from the DI registry (see ``app.py``): the `MessageStore`,
one for the whole application, and the `User`, resolved once per connection from the
upgrade request by `user_from_request`.
"""

from __future__ import annotations

import logging
import time

import attrs
from aiohttp import web

from aioneffos.controllers import Controller, emits
from aioneffos.framework import Message, Refused
from samples.chat.store import ChatMessage, MessageStore

NAMESPACE = "chat"
ROOMS = ("general", "random", "python")
MAX_NAME = 24
MAX_TEXT = 500

logger = logging.getLogger("samples.chat")


@attrs.frozen
class User:
    """Who is on the other end of a connection."""

    name: str


def user_from_request(request: web.Request) -> User:
    """Resolve the user of a connection from its upgrade request (connection scope).

    The name comes from the ``X-Username`` header (neffos.js sends its ``headers`` option
    as ``X-Websocket-Header-X-Username`` query parameters), else from ``?name=``. Raising
    refuses the namespace connect: the client's ``connect`` rejects with this text.
    """
    name = (request.headers.get("X-Username") or request.query.get("name") or "").strip()
    if not 0 < len(name) <= MAX_NAME:
        raise ValueError(f"pick a name of 1 to {MAX_NAME} characters")
    return User(name)


@attrs.frozen
class ChatText:
    """The body of an ``OnChat`` event: ``{"text": "..."}``."""

    text: str


@emits("OnHistory", list[ChatMessage], summary="The room's recent messages, to whoever just joined it.")
@emits("OnNotice", str, summary="Someone joined or left the room.")
@emits("OnChat", ChatMessage, summary="A message said in the room, the sender's own included.")
class ChatController(Controller):
    """Rooms with a history: join one, read what was said, talk to whoever is in it."""

    namespace = NAMESPACE
    store: MessageStore  # injected: the registered instance
    user: User  # injected: user_from_request(request), once per connection

    async def OnNamespaceConnected(self, msg: Message) -> None:
        logger.info("%s connected (%s)", self.user.name, self.conn.id)

    async def OnNamespaceDisconnect(self, msg: Message) -> None:
        logger.info("%s disconnected (%s)", self.user.name, self.conn.id)

    async def OnRoomJoin(self, msg: Message) -> None:
        if msg.room not in ROOMS:  # refuses the join: the client's joinRoom rejects
            raise Refused(f"no room {msg.room!r}; try one of {', '.join(ROOMS)}")

    async def OnRoomJoined(self, msg: Message) -> None:
        room = self.room(msg.room)
        assert room is not None  # just joined
        history = [attrs.asdict(message) for message in self.store.history(msg.room)]
        room.emit("OnHistory", history)  # to this client only, as a JSON list
        self.broadcast("OnNotice", f"{self.user.name} joined #{msg.room}", room=msg.room)

    async def OnRoomLeft(self, msg: Message) -> None:
        self.broadcast("OnNotice", f"{self.user.name} left #{msg.room}", room=msg.room)

    async def OnChat(self, msg: Message, said: ChatText) -> None:
        """Store what was said in the room and send it to everyone there, the sender included."""
        text = said.text.strip()
        if not msg.room:
            raise ValueError("join a room first")
        if not 0 < len(text) <= MAX_TEXT:
            raise ValueError(f"a message has 1 to {MAX_TEXT} characters")
        entry = self.store.add(ChatMessage(msg.room, self.user.name, text, time.time()))
        self.broadcast("OnChat", entry, room=msg.room)
