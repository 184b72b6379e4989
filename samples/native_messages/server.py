"""The server of the native_messages sample: every frame a client sends goes, as is, to the others.

A server whose only handler is ``_OnNativeMessage`` in namespace ``""`` runs in
*native-only* mode: no neffos handshake, no 7-field messages, just websocket frames,
so any WebSocket client can talk to it (neffos and Iris call these native messages).
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from aioneffos.controllers import emits
from aioneffos.framework import (
    ON_NATIVE_MESSAGE,
    Conn,
    Events,
    Message,
    NSConn,
    Server,
    get_server,
    handler,
    setup,
)
from samples.common import page

logger = logging.getLogger("samples.native_messages")


@emits(ON_NATIVE_MESSAGE, str, summary="What another client sent (as is), or the welcome text.")
async def on_native_message(ns: NSConn, msg: Message) -> None:
    """Relay a frame to every other client: text stays text, binary stays binary."""
    logger.info("%s says %r", ns.conn.id, msg.body[:80])
    get_server(ns.conn).broadcast(msg, exclude=ns)


async def greet(conn: Conn) -> None:
    """Tell a new client how many are connected, as a raw text frame."""
    server = get_server(conn)
    logger.info("%s connected", conn.id)
    conn.write(Message(body=f"welcome! {server.total_connections} connected", is_native=True))


def make_server() -> Server:
    """Build the native-only server: namespaces exactly ``{"": {"_OnNativeMessage": ...}}``."""
    return Server(
        Events({ON_NATIVE_MESSAGE: on_native_message}),
        on_connect=greet,
        on_disconnect=lambda conn: logger.info("%s left", conn.id),
    )


def make_app() -> web.Application:
    """Build the app: the page at ``/``, the native websocket at ``/ws``."""
    server = make_server()
    app = web.Application()
    app.router.add_get("/", page(Path(__file__).with_name("index.html")))
    app.router.add_get("/ws", handler(server))
    setup(app, server)
    return app
