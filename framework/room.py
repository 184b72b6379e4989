"""`Room`: a room joined by one namespace connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .ns_conn import NSConn


@attrs.define(eq=False, repr=False)
class Room:
    """A room this connection has joined in one namespace (neffos ``Room``)."""

    ns_conn: NSConn
    name: str

    def __repr__(self) -> str:
        return f"<Room {self.name!r} of {self.ns_conn!r}>"

    def __str__(self) -> str:
        """Give the connection id, as neffos ``Room.String()`` does (the room's name is `name`)."""
        return self.ns_conn.conn.id

    @property
    def is_joined(self) -> bool:
        """Tell whether the room is still joined."""
        return self.ns_conn.room(self.name) is self

    def emit(self, event: str, body: object = b"") -> None:
        """Send *event* in this room to this connection's peer (neffos ``Room.Emit``).

        Raise `ReconnectingError` while a client reconnects (the same `Room` works again
        once restored), or `WriteClosedError` naming the room when it was left, its
        namespace disconnected or the connection closed.
        """
        ns = self.ns_conn
        if ns.room(self.name) is not self:
            raise ns.closed_error(self.name)
        ns.emit(event, body, room=self.name)

    def broadcast(self, event: str, body: object = b"", *, exclude_self: bool = False) -> None:
        """Send *event* to every member of this room through the server (server side only)."""
        self.ns_conn.broadcast(event, body, room=self.name, exclude_self=exclude_self)

    async def leave(self, *, timeout: float | None = None) -> None:
        """Leave this room (neffos ``Room.Leave``); our ``_OnRoomLeave`` runs first and may refuse."""
        await self.ns_conn.leave_room(self.name, timeout=timeout)
