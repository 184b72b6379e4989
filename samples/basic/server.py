"""The server of the basic sample: namespace ``/v1`` with one event, ``workday``."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from aiohttp import web

from aioneffos.controllers import emits
from aioneffos.framework import Message, NSConn, Server, handler, setup
from samples.common import add_neffos_js, page

NAMESPACE = "/v1"
DATE_FORMAT = "%m-%d-%Y"  # mm-dd-yyyy, as in the neffos README
SUGGESTION = "Why not try this one? 06-24-2019"
NUDGE = "What are you doing?"


@emits("notify", str, summary="A nudge after repeated bad dates, and the server's uptime every minute.")
async def workday(ns: NSConn, msg: Message) -> str:
    """Reply whether the date in the body is a working day; a bad date is an error reply."""
    try:
        day = datetime.strptime(msg.text, DATE_FORMAT)
    except ValueError:
        tries = ns.conn.store.increment("tries")  # per connection, like neffos Conn.Increment
        if tries % 3 == 0:
            raise ValueError(SUGGESTION) from None  # every third miss: a custom error text
        if tries >= 4 and tries % 2 == 0:
            ns.emit("notify", NUDGE)  # fire the client's "notify" event, then answer the error
        raise  # the error reply carries the parse error's text
    if day.weekday() >= 5:
        return "day off"
    return f"it's {day:%A}, do your job."


def make_app(*, notify_every: float = 60.0) -> web.Application:
    """Build the app: the page at ``/``, websockets at ``/ws``, ``notify`` every *notify_every* seconds."""
    server = Server({NAMESPACE: {"workday": workday}})
    app = web.Application()
    app.router.add_get("/", page(Path(__file__).with_name("index.html")))
    app.router.add_get("/ws", handler(server))
    add_neffos_js(app)
    setup(app, server)

    async def notify_periodically(_: web.Application) -> AsyncIterator[None]:
        async def tick() -> None:
            for ticks in itertools.count(1):
                await asyncio.sleep(notify_every)
                uptime = round(ticks * notify_every, 3)
                # To every client of /v1, encoded once (neffos Server.Broadcast).
                text = f"server is up and running for {uptime:g} seconds"
                server.broadcast(Message(NAMESPACE, "notify", text))

        task = asyncio.create_task(tick())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(notify_periodically)
    return app
