"""`NSConn`: a connection's membership of one namespace, with its rooms and events."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, final

import attrs

from . import events as ev
from .cleanup import Cleanup, run_cleanups
from .errors import BadNamespaceError, ReconnectingError, WriteClosedError
from .logs import fields
from .message import Message, as_body
from .protocol import encode_fields
from .room import Room
from .store import Store
from .tables import NamespaceTable

if TYPE_CHECKING:
    from .conn import Conn

logger = logging.getLogger("aioneffos.handlers")


@final
@attrs.define(eq=False, repr=False)
class NSConn:
    """A connection to one namespace (neffos ``NSConn``): emit, ask, rooms, disconnect."""

    conn: Conn
    namespace: str
    table: NamespaceTable
    """The compiled handlers of this namespace."""
    store: Store = attrs.field(init=False)
    """Values that live as long as this namespace connection (a controller lives here).

    Made on first use (`__getattr__`): most connections never need one, and once made it is
    a plain slot, as fast to read as before."""
    _rooms: dict[str, Room] = attrs.field(init=False)
    """Made on first use, as the store is."""
    _cleanups: list[Cleanup] | None = attrs.field(default=None, init=False)
    """Made on first `defer`: most connections never defer anything."""

    if not TYPE_CHECKING:  # hidden from type checkers, which would allow any attribute

        def __getattr__(self, name: str) -> Any:
            # Called only for a slot not set yet: `store` or `_rooms`, on its first use.
            if name == "store":
                store = self.store = Store()
                return store
            if name == "_rooms":
                rooms: dict[str, Room] = {}
                self._rooms = rooms
                return rooms
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<NSConn {self.namespace!r} of {self.conn.id!r} rooms={list(self._rooms)}>"

    def __str__(self) -> str:
        """Give the connection id, as neffos ``NSConn.String()`` does."""
        return self.conn.id

    @property
    def is_connected(self) -> bool:
        """Tell whether this namespace connection is still live."""
        return self.conn.namespace(self.namespace) is self and not self.conn.is_closed

    async def open(self, timeout: float | None = None) -> NSConn:
        """Connect this namespace connection (new, or connected before a reconnection): our
        ``_OnNamespaceConnect`` first, then the peer's answer, then ``_OnNamespaceConnected``.

        On a refusal the cleanups the hook deferred run and the error is raised (see
        `Conn.connect`).
        """
        conn = self.conn
        local = Message(self.namespace, ev.ON_NAMESPACE_CONNECT, is_local=True)
        try:
            await self.fire(ev.ON_NAMESPACE_CONNECT, local)
            await conn.ask(local, timeout)
        except BadNamespaceError as exc:
            await self.run_cleanups()
            if exc.namespace is not None:
                raise
            text = "the server has no namespace" if conn.is_client else "the client did not declare namespace"
            raise BadNamespaceError(
                f"{text} {self.namespace!r} (it answered 'bad namespace')", namespace=self.namespace
            ) from None
        except BaseException:
            await self.run_cleanups()
            raise
        conn.register(self)
        await self.fire_quietly(ev.ON_NAMESPACE_CONNECTED, local.evolve(event=ev.ON_NAMESPACE_CONNECTED))
        return self

    # -- sending --------------------------------------------------------------

    def emit(self, event: str, body: object = b"", *, room: str = "", binary: bool = False) -> None:
        """Send *event* with *body* to the peer, in *room* if given (neffos ``Emit``;
        ``binary=True`` is ``EmitBinary``).

        Raise `ReconnectingError` while a client reconnects (nothing is queued), and
        `WriteClosedError` naming the namespace (and room) when this namespace is
        disconnected, the room not joined, or the connection closed.
        """
        conn = self.conn
        if conn.namespace(self.namespace) is not self or (room and room not in self._rooms):
            raise self.closed_error(room)
        frame = encode_fields("", self.namespace, room, event, as_body(body), binary=binary)
        if not conn.writer.send(frame):
            raise self.closed_error(room)
        observer = self.table.observer
        if observer is not None:
            observer.sent(self.namespace, event, 1)

    def emit_binary(self, event: str, body: object) -> None:
        """Send *event* in a binary frame (neffos ``EmitBinary``); raise as `emit`."""
        self.emit(event, body, binary=True)

    async def ask(self, event: str, body: object = b"", *, timeout: float | None = None) -> Message:
        """Ask the peer *event* and return its reply (neffos ``NSConn.Ask``).

        Raise `ReconnectingError` or `WriteClosedError` as `emit` does; see `Conn.ask`.
        """
        if self.conn.namespace(self.namespace) is not self:
            raise self.closed_error()
        msg = Message(self.namespace, event, as_body(body))
        observer = self.table.observer
        if observer is None:
            return await self.conn.ask(msg, timeout)
        observer.sent(self.namespace, event, 1)
        return await observer.asking(msg, self.conn.ask(msg, timeout))

    def closed_error(self, room: str = "") -> WriteClosedError:
        """Give the error for a write through this namespace (or its *room*) that cannot go out."""
        conn = self.conn
        name = self.namespace
        where = f"room {room!r} of namespace {name!r}" if room else f"namespace {name!r}"
        client = conn.client
        if conn.is_reconnecting and client is not None and client.will_restore(self, room):
            return ReconnectingError(
                f"cannot write to {where}: the connection dropped and is reconnecting (nothing was sent)",
                namespace=name,
                room=room or None,
            )
        if conn.is_closed and not conn.is_reconnecting:
            why = f"connection {conn.id!r} is closed"
        elif conn.namespace(name) is not self:
            why = "it is not connected (disconnected)"
            where = f"namespace {name!r}"
        elif room:
            why = "it is not joined (left)"
        else:
            why = f"connection {conn.id!r} is closed"
        return WriteClosedError(f"cannot write to {where}: {why}", namespace=name, room=room or None)

    def broadcast(
        self, event: str, body: object = b"", *, room: str = "", exclude_self: bool = False
    ) -> None:
        """Send *event* to every connection in this namespace (or *room*) through the server.

        With *exclude_self*, this connection is left out (neffos ``BroadcastOthers``).
        Raise `RuntimeError` on the client side, which has no server.
        """
        hub = self.conn.hub
        if hub is None:
            raise RuntimeError("broadcast needs a server-side connection")
        hub.broadcast(
            Message(self.namespace, event, as_body(body), room), exclude=self if exclude_self else None
        )

    # -- rooms ----------------------------------------------------------------

    @property
    def rooms(self) -> Mapping[str, Room]:
        """Give the joined rooms, by name."""
        return self._rooms

    def room(self, name: str) -> Room | None:
        """Give joined room *name*, or ``None`` (neffos ``NSConn.Room``)."""
        return self._rooms.get(name)

    async def join_room(self, room: str, *, timeout: float | None = None) -> Room:
        """Join *room* and return it; our ``_OnRoomJoin`` runs first and may refuse
        (docs/protocol.md#server-join-order).

        On the server this makes the client join. Raise the typed error of a refusal.
        """
        existing = self._rooms.get(room)
        if existing is not None:
            return existing
        return await self._join(room, timeout, None)

    async def restore_room(self, room: Room, *, timeout: float | None = None) -> None:
        """Join *room* again after a reconnection, keeping the very `Room` object (client side)."""
        if room.name not in self._rooms:
            await self._join(room.name, timeout, room)

    async def _join(self, room: str, timeout: float | None, handle: Room | None) -> Room:
        local = Message(self.namespace, ev.ON_ROOM_JOIN, room=room, is_local=True)
        await self.fire(ev.ON_ROOM_JOIN, local)
        await self.conn.ask(local, timeout)
        joined = self.add_room(room, handle)
        await self.fire_quietly(ev.ON_ROOM_JOINED, local.evolve(event=ev.ON_ROOM_JOINED))
        return joined

    async def leave_room(self, room: str, *, timeout: float | None = None) -> None:
        """Leave *room*; nothing happens if it is not joined. See `Room.leave`.

        While a client reconnects, leaving a room it had joined means it is not restored.
        """
        if room not in self._rooms:
            if self.conn.client is not None:  # left while reconnecting: not restored
                self.conn.client.forget(self, room)
            return
        local = Message(self.namespace, ev.ON_ROOM_LEAVE, room=room, is_local=True)
        await self.fire(ev.ON_ROOM_LEAVE, local)
        await self.conn.ask(local, timeout)
        self.remove_room(room)
        await self.fire_quietly(ev.ON_ROOM_LEFT, local.evolve(event=ev.ON_ROOM_LEFT))

    async def leave_all(self, *, timeout: float | None = None) -> None:
        """Leave every joined room (neffos ``LeaveAll``)."""
        for room in list(self._rooms):
            await self.leave_room(room, timeout=timeout)

    def add_room(self, name: str, handle: Room | None = None) -> Room:
        """Record *name* as joined (the peer asked, or *handle* is restored) and tell the hub;
        nothing is asked or fired."""
        room = self._rooms[name] = handle if handle is not None else Room(self, name)
        if self.conn.hub is not None:
            self.conn.hub.room_joined(self, name)
        return room

    def remove_room(self, name: str) -> None:
        """Forget room *name* and tell the hub; nothing is asked or fired."""
        if self._rooms.pop(name, None) is not None and self.conn.hub is not None:
            self.conn.hub.room_left(self, name)

    # -- disconnecting --------------------------------------------------------

    async def disconnect(self, *, timeout: float | None = None) -> None:
        """Disconnect from this namespace (neffos ``NSConn.Disconnect``).

        On the server the client cannot refuse, and the namespace ends here even if the
        client does not answer. On the client the server may refuse: its error is raised
        and the namespace stays connected. While a client reconnects, disconnecting a
        namespace it had connected means it is not restored.
        """
        if self.conn.namespace(self.namespace) is not self:
            if self.conn.client is not None:  # disconnected while reconnecting: not restored
                self.conn.client.forget(self)
            return
        local = Message(self.namespace, ev.ON_NAMESPACE_DISCONNECT, is_local=True)
        if self.conn.is_client:
            await self.conn.ask(local, timeout)
            await self.end_locally(forced=False)
            return
        try:
            await self.conn.ask(local, timeout)
        finally:
            await self.end_locally(forced=False)

    async def end_locally(self, *, forced: bool) -> None:
        """Leave every room, forget this namespace and fire ``_OnNamespaceDisconnect`` locally."""
        await self.leave_rooms_locally(is_local=True, forced=forced)
        self.conn.unregister(self)
        end = Message(self.namespace, ev.ON_NAMESPACE_DISCONNECT, is_local=True, is_forced=forced)
        await self.fire_quietly(ev.ON_NAMESPACE_DISCONNECT, end)
        await self.run_cleanups()

    async def leave_rooms_locally(self, *, is_local: bool, forced: bool) -> None:
        """Leave every room without asking the peer, firing the leave events (neffos forceLeaveAll)."""
        for room in list(self._rooms):
            leave = Message(self.namespace, ev.ON_ROOM_LEAVE, room=room, is_local=is_local, is_forced=forced)
            await self.fire_quietly(ev.ON_ROOM_LEAVE, leave)
            self.remove_room(room)
            await self.fire_quietly(ev.ON_ROOM_LEFT, leave.evolve(event=ev.ON_ROOM_LEFT))

    def defer(self, cleanup: Cleanup) -> None:
        """Run *cleanup* (sync or async) when this namespace connection ends, last added first."""
        cleanups = self._cleanups
        if cleanups is None:
            cleanups = self._cleanups = []
        cleanups.append(cleanup)

    async def run_cleanups(self) -> None:
        """Run the deferred cleanups now; each failure is logged and the rest still run."""
        if self._cleanups:
            await run_cleanups(self._cleanups, repr(self))

    # -- handlers -------------------------------------------------------------

    async def fire(self, event: str, msg: Message) -> object:
        """Call this namespace's handler for *event* (or ``_OnAnyEvent``); its error propagates."""
        entry = self.table.lookup(event)
        if entry is None:
            return None
        result = entry.handler(self, msg)
        if entry.is_async or inspect.isawaitable(result):
            result = await result
        return result

    async def fire_quietly(self, event: str, msg: Message) -> None:
        """Call the handler for *event*, logging (not raising) its error."""
        try:
            await self.fire(event, msg)
        except Exception:
            logger.exception(
                "namespace %r event %r on %r: handler failed",
                self.namespace,
                event,
                self.conn.id,
                extra=fields(self.conn.id, self.namespace, event, msg.room),
            )


async def connect(conn: Conn, namespace: str, timeout: float | None) -> NSConn:
    """Connect *conn* to *namespace* (see `Conn.connect`): give the existing `NSConn`, or open
    a new one; raise `BadNamespaceError` when this side does not declare *namespace*."""
    existing = conn.namespaces.get(namespace)
    if existing is not None:
        return existing
    table = conn.tables.get(namespace)
    if table is None:
        side = "client (declare it in dial's namespaces)" if conn.is_client else "server"
        raise BadNamespaceError(
            f"namespace {namespace!r} is not declared on this {side}", namespace=namespace
        )
    if conn.is_closed:
        raise conn.closed_error()
    if not conn.is_client:
        conn.send_ack()
    return await NSConn(conn, namespace, table).open(timeout)


async def disconnect_all(namespaces: list[NSConn], timeout: float | None) -> None:
    """Disconnect each of *namespaces* in order, even when one fails; then raise the first failure."""
    first: Exception | None = None
    for ns in namespaces:
        try:
            await ns.disconnect(timeout=timeout)
        except Exception as exc:
            logger.debug("%r: disconnecting %r failed: %s", ns.conn, ns.namespace, exc)
            if first is None:
                first = exc
    if first is not None:
        raise first
