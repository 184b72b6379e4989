"""The server of the online_visitors sample: each page is a room; joins and leaves update its count.

The page joins the room named after itself; every join or leave (a closed tab leaves
its rooms too) broadcasts the new count to the room's members as ``onNewVisit``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from aioneffos.controllers import emits
from aioneffos.framework import (
    ON_ROOM_JOIN,
    ON_ROOM_JOINED,
    ON_ROOM_LEFT,
    Events,
    Message,
    NSConn,
    Refused,
    Server,
    get_server,
    handler,
    setup,
)
from samples.common import add_neffos_js, page

NAMESPACE = "default"
PAGES = {"/": "index", "/other": "other"}
"""Path -> page id (the room its viewers join)."""

logger = logging.getLogger("samples.online_visitors")


class PageViews:
    """Counts the viewers of every page and tells them when the count changes."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def on_room_join(self, ns: NSConn, msg: Message) -> None:
        """Refuse rooms that are not pages (the client's ``joinRoom`` rejects with this text)."""
        if msg.room not in PAGES.values():
            raise Refused(f"unknown page {msg.room!r}")

    @emits("onNewVisit", str, summary="The number of viewers of the page (the room), as text.")
    async def on_room_joined(self, ns: NSConn, msg: Message) -> None:
        """Count one more viewer and tell everyone on that page, the newcomer included."""
        self.counts[msg.room] = self.counts.get(msg.room, 0) + 1
        self._announce(ns, msg.room)

    async def on_room_left(self, ns: NSConn, msg: Message) -> None:
        """Count one viewer less and tell the viewers who stay."""
        count = self.counts.get(msg.room, 0) - 1
        if count > 0:
            self.counts[msg.room] = count
        else:
            self.counts.pop(msg.room, None)
        self._announce(ns, msg.room)

    def _announce(self, ns: NSConn, room: str) -> None:
        count = self.counts.get(room, 0)
        logger.info("%s: %d online", room, count)
        get_server(ns.conn).broadcast(Message(NAMESPACE, "onNewVisit", str(count), room=room))

    def events(self) -> Events:
        """Give the namespace's handlers."""
        return Events(
            {
                ON_ROOM_JOIN: self.on_room_join,
                ON_ROOM_JOINED: self.on_room_joined,
                ON_ROOM_LEFT: self.on_room_left,
            }
        )


def make_app() -> web.Application:
    """Build the app: the pages at ``/`` and ``/other``, websockets at ``/ws``."""
    views = PageViews()
    server = Server({NAMESPACE: views.events()})
    app = web.Application()
    for path in PAGES:
        app.router.add_get(path, page(Path(__file__).with_name("index.html")))
    app.router.add_get("/ws", handler(server))
    add_neffos_js(app)
    setup(app, server)
    return app
