"""`Controller`: the base class of websocket controllers, one instance per namespace connection."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from aioneffos.framework import Conn, Message, NSConn, Room, Server, get_request, get_server

FRAMEWORK_ATTRIBUTES = frozenset({"ns_conn", "namespace", "_timeout"})
"""Attributes the framework sets on every instance; never injected, never seeded."""


class Controller:
    """A websocket controller (Iris ``HandleWebsocket``): its ``On*`` coroutine methods are events.

    A fresh instance serves each namespace connection. Before any event method runs,
    the framework sets `ns_conn` and `namespace`, copies the template's public
    attributes, and injects every annotated attribute that has no value (or whose
    default is a DI marker). The NSConn conveniences (`emit`, `ask`, `join_room`,
    `broadcast`, ...) act on this instance's namespace connection.

    The namespace comes from ``handle_websocket(...).set_namespace()``, else a
    ``namespace()`` method, else a ``namespace`` attribute, else ``""``. Keyword
    arguments set attributes, which is how a template instance is written:
    ``handle_websocket(ChatController(namespace="default"))``.
    """

    namespace: str = ""
    """The namespace this controller serves (set on each instance unless ``namespace`` is a method)."""
    ns_conn: NSConn
    """The namespace connection this instance serves (Iris's stateless ``*NSConn`` field)."""
    _timeout: float | None = None

    def __init__(self, **attributes: object) -> None:
        for name, value in attributes.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        ns_conn = self.__dict__.get("ns_conn")
        where = f" of {ns_conn.conn.id!r}" if ns_conn is not None else " (template)"
        return f"<{type(self).__qualname__}{where}>"

    def __str__(self) -> str:
        """Give the connection id once bound (as Go's embedded ``*NSConn`` prints), else the repr."""
        ns_conn = self.__dict__.get("ns_conn")
        return ns_conn.conn.id if ns_conn is not None else repr(self)

    # -- what the framework set ------------------------------------------------

    @property
    def conn(self) -> Conn:
        """Give the websocket connection."""
        return self.ns_conn.conn

    @property
    def request(self) -> web.Request:
        """Give the upgrade request (Iris ``websocket.GetContext``); raise `TypeError` on a
        client-side connection, as `get_request` does."""
        return get_request(self.ns_conn.conn)

    @property
    def server(self) -> Server:
        """Give the server; raise `TypeError` on a client-side connection, as `get_server` does."""
        return get_server(self.ns_conn.conn)

    @property
    def is_connected(self) -> bool:
        """Tell whether the namespace connection is still live."""
        return self.ns_conn.is_connected

    # -- NSConn conveniences ----------------------------------------------------

    def emit(self, event: str, body: object = b"") -> None:
        """Send *event* to the peer; raise `WriteClosedError` if the namespace is no longer connected."""
        self.ns_conn.emit(event, body)

    def emit_binary(self, event: str, body: object) -> None:
        """Send *event* to the peer in a binary frame; raise as `emit`."""
        self.ns_conn.emit_binary(event, body)

    async def ask(self, event: str, body: object = b"", *, timeout: float | None = None) -> Message:
        """Ask the peer *event* and return its reply; the timeout defaults to ``set_timeouts(ask=)``."""
        return await self.ns_conn.ask(event, body, timeout=self._timeout if timeout is None else timeout)

    def broadcast(
        self, event: str, body: object = b"", *, room: str = "", exclude_self: bool = False
    ) -> None:
        """Send *event* to every connection of this namespace (or *room*), optionally not to this one."""
        self.ns_conn.broadcast(event, body, room=room, exclude_self=exclude_self)

    @property
    def rooms(self) -> Mapping[str, Room]:
        """Give the joined rooms, by name."""
        return self.ns_conn.rooms

    def room(self, name: str) -> Room | None:
        """Give joined room *name*, or ``None``."""
        return self.ns_conn.room(name)

    async def join_room(self, room: str, *, timeout: float | None = None) -> Room:
        """Make the peer join *room* (our ``OnRoomJoin`` runs first) and return it."""
        return await self.ns_conn.join_room(room, timeout=self._timeout if timeout is None else timeout)

    async def leave_room(self, room: str, *, timeout: float | None = None) -> None:
        """Make the peer leave *room*."""
        await self.ns_conn.leave_room(room, timeout=self._timeout if timeout is None else timeout)

    async def leave_all(self, *, timeout: float | None = None) -> None:
        """Leave every joined room."""
        await self.ns_conn.leave_all(timeout=self._timeout if timeout is None else timeout)

    async def disconnect(self, *, timeout: float | None = None) -> None:
        """Disconnect the peer from this namespace."""
        await self.ns_conn.disconnect(timeout=self._timeout if timeout is None else timeout)
