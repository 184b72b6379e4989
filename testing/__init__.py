"""aioneffos.testing: test an aioneffos application without sockets.

* `connect` gives a client `Conn` (the one `dial` gives) over an in-memory connection that
  the `Server` runs as it runs a socket: handshake, routing, ordering, replies, teardown.
* `Recorder` records what a client receives: ``await rec.next("OnChat")``, ``rec.all()``.
* `running` runs an aiohttp application's startup and cleanup hooks without listening.
* The pytest plugin (entry point ``pytest11``, `aioneffos.testing.plugin`) gives the
  fixtures ``neffos_client`` (`Clients`) and ``neffos_aiohttp_client`` (`SocketClients`).

Dependency overrides for tests are the MVC application's: ``with mvc_app.override(Logger,
FakeLogger()):``. This face imports its modules on first use, so that loading the pytest
plugin imports nothing of aioneffos.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Target, connect, running
    from .fixtures import Clients, SocketClients
    from .recorder import DEFAULT_TIMEOUT, ClientHandlers, NotReceivedError, Recorder, describe

_HOMES = {
    "Target": "client",
    "connect": "client",
    "running": "client",
    "Clients": "fixtures",
    "SocketClients": "fixtures",
    "DEFAULT_TIMEOUT": "recorder",
    "ClientHandlers": "recorder",
    "NotReceivedError": "recorder",
    "Recorder": "recorder",
    "describe": "recorder",
}

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClientHandlers",
    "Clients",
    "NotReceivedError",
    "Recorder",
    "SocketClients",
    "Target",
    "connect",
    "describe",
    "running",
]

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """Import the module that defines *name* on first use (see the module docstring)."""
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(__all__)
