"""`Room`: a room joined by one namespace connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .message import Message, as_body
from .protocol import encode_fields

if TYPE_CHECKING:
    from .ns_conn import NSConn


@attrs.define(eq=False, repr=False)
class Room:
    """A room this connection has joined in one namespace (neffos ``Room``)."""

    ns_conn: NSConn
    name: str

    def __repr__(self) -> str:
        return f"<Room {self.name!r} of {self.ns_conn!r}>"

    @property
    def is_joined(self) -> bool:
        """Tell whether the room is still joined."""
        return self.ns_conn.room(self.name) is self

    def emit(self, event: str, body: object = b"") -> bool:
        """Send *event* in this room to this connection's peer; False if the room was left."""
        if not self.is_joined or not self.ns_conn.is_connected:
            return False
        frame = encode_fields("", self.ns_conn.namespace, self.name, event, as_body(body))
        return self.ns_conn.conn.send_frame(frame)

    def broadcast(self, event: str, body: object = b"", *, exclude_self: bool = False) -> None:
        """Send *event* to every member of this room through the server (server side only)."""
        server = self.ns_conn.conn.server
        if server is None:
            raise RuntimeError("broadcast needs a server-side connection")
        msg = Message(self.ns_conn.namespace, event, as_body(body), self.name)
        server.broadcast(msg, exclude=self.ns_conn if exclude_self else None)

    async def leave(self, *, timeout: float | None = None) -> None:
        """Leave this room (neffos ``Room.Leave``); our ``_OnRoomLeave`` runs first and may refuse."""
        await self.ns_conn.leave_room(self.name, timeout=timeout)
