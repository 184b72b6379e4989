"""The seed's six steps ("Websocket Controller"), one comment per step.

A controller for namespace ``default``: ``OnNamespaceConnected`` and
``OnNamespaceDisconnect`` log through an injected logger, ``OnChat`` passes each chat
message on to every other client. The page at ``/`` chats through neffos.js; the
websocket endpoint is ``/websocket_endpoint``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import attrs
from aiohttp import web

from aioneffos.controllers import emits
from aioneffos.framework import Message, Server, handler, setup
from aioneffos.mvc import Application, Controller
from samples.common import add_neffos_js, page

ENDPOINT = "/websocket_endpoint"
NAMESPACE = "default"


class Logger(Protocol):
    """What the controller needs (the seed's ``MyLoggerInterface``)."""

    def log(self, text: str) -> None: ...


@attrs.frozen
class PrefixedLogger:
    """Prints each line after a prefix; it satisfies `Logger` structurally, as a Go type would."""

    prefix: str

    def log(self, text: str) -> None:
        print(f"{self.prefix}: {text}", flush=True)


# 1. The controller: one instance per namespace connection. `ns_conn` (the seed's
#    stateless *NSConn field) and `namespace` are set by the framework; `logger` is
#    injected because it is annotated and has no value.
class WebsocketController(Controller):
    """Logs connects and disconnects; passes chat messages on to the other clients."""

    logger: Logger

    async def OnNamespaceConnected(self, msg: Message) -> None:
        self.logger.log(f"Connected {self.conn.id}")

    async def OnNamespaceDisconnect(self, msg: Message) -> None:
        self.logger.log(f"Disconnected {self.conn.id}")

    @emits("OnChat", str, summary="What another client said.")
    async def OnChat(self, msg: Message) -> None:
        """Pass the text on to every other client."""
        remote = self.request.remote  # the upgrade request: Iris's websocket.GetContext
        self.logger.log(f"[IP: {remote}] [ID: {self.conn.id}] broadcast to other clients: {msg.text}")
        self.server.broadcast(msg, exclude=self.ns_conn)


def make_app(*, logger: Logger | None = None) -> web.Application:
    """Build the sample: the chat page at ``/``, the controller at ``/websocket_endpoint``."""
    app = web.Application()
    app.router.add_get("/", page(Path(__file__).with_name("index.html")))
    add_neffos_js(app)

    # 2. An MVC application for the websocket endpoint (Iris: mvc.New(app.Party(...))).
    mvc_app = Application(app, ENDPOINT)
    # 3. Its dependencies: matched by type when a controller asks for a Logger.
    mvc_app.register(logger if logger is not None else PrefixedLogger(prefix="DEV"))
    # 4. The controller, as a template whose public attributes seed every instance
    #    (or `handle_websocket(WebsocketController).set_namespace("default")`).
    mvc_app.handle_websocket(WebsocketController(namespace=NAMESPACE))
    # 5. The MVC application is the server's connection handler (several join with
    #    join_conn_handlers(mvc_app1, mvc_app2)).
    websocket_server = Server(mvc_app)
    # 6. Serve it at the endpoint: "/" under the application's prefix.
    mvc_app.router.add_get("/", handler(websocket_server))

    setup(app, websocket_server)  # start with the app; close every connection (1001) at shutdown
    return app
