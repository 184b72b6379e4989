"""aioneffos.mvc: the MVC application of the seed, in one import (Iris's ``mvc`` package).

The seed's six steps, ``mvc.New(app.Party("/websocket_endpoint"))``, ``mvcApp.Register(...)``,
``mvcApp.HandleWebsocket(...)``, become:

    from aioneffos.mvc import Application, Controller

    mvc_app = Application(app, "/websocket_endpoint")
    mvc_app.register(PrefixedLogger(prefix="DEV"))
    mvc_app.handle_websocket(WebsocketController(namespace="default"))

`Application` is ``aioneffos.di.Application`` (dependencies through dependency-injector);
`Controller` and `join_conn_handlers` come from ``aioneffos.controllers``. This face only
re-exports: the layers stay ``di -> controllers -> framework``.
"""

from aioneffos.controllers import Controller, join_conn_handlers
from aioneffos.di import Application

__all__ = ["Application", "Controller", "join_conn_handlers"]
