"""The chat application: aiohttp serves the page, the controller serves ``/ws``."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from aioneffos.controllers.asyncapi import add_asyncapi_route
from aioneffos.di import Application
from aioneffos.framework import Server, handler, setup
from samples.chat.controller import ChatController, user_from_request
from samples.chat.store import MessageStore
from samples.common import add_neffos_js, page

STATIC = Path(__file__).with_name("static")
ENDPOINT = "/ws"


def make_app(*, store: MessageStore | None = None) -> web.Application:
    """Build the chat: the page at ``/`` (assets under ``/static/``), websockets at ``/ws``."""
    app = web.Application()
    app.router.add_get("/", page(STATIC / "index.html"))
    app.router.add_static("/static/", STATIC)
    add_neffos_js(app)

    mvc_app = Application(app, ENDPOINT)
    mvc_app.register(store if store is not None else MessageStore())  # app scope: one store
    mvc_app.register(user_from_request)  # connection scope: one User per connection
    mvc_app.handle_websocket(ChatController)
    server = Server(mvc_app)
    mvc_app.router.add_get("/", handler(server))  # "/" under the prefix: /ws
    setup(app, server)
    add_asyncapi_route(app, server, pathname=ENDPOINT, title="chat sample")  # the contract, for front ends
    return app
