"""`NSConn`: a connection's membership of one namespace, with its rooms and events."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, final

import attrs

from . import events as ev
from .cleanup import Cleanup, run_cleanups
from .errors import NAME_TOO_LONG, TOO_MANY_ROOMS, ReconnectingError, WriteClosedError, error_text
from .limits import clip, utf8_length
from .logs import fields, handler_failed, unknown_event
from .message import Message, as_body, reply_body
from .protocol import encode_fields
from .room import Room
from .store import Store

if TYPE_CHECKING:
    from .conn import Conn

logger = logging.getLogger("aioneffos.handlers")


@final
@attrs.define(eq=False, repr=False)
class NSConn:
    """A connection to one namespace (neffos ``NSConn``): emit, ask, rooms, disconnect."""

    conn: Conn
    namespace: str
    _table: ev.NamespaceTable
    store: Store = attrs.field(factory=Store, init=False)
    """Values that live as long as this namespace connection (a controller lives here)."""
    _rooms: dict[str, Room] = attrs.field(factory=dict, init=False)
    _cleanups: list[Cleanup] = attrs.field(factory=list, init=False)

    def __repr__(self) -> str:
        return f"<NSConn {self.namespace!r} of {self.conn.id!r} rooms={list(self._rooms)}>"

    def __str__(self) -> str:
        """Give the connection id, as neffos ``NSConn.String()`` does."""
        return self.conn.id

    @property
    def is_connected(self) -> bool:
        """Tell whether this namespace connection is still live."""
        return self.conn.namespace(self.namespace) is self and not self.conn.is_closed

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
        if not conn.send_frame(frame):
            raise self.closed_error(room)

    def emit_binary(self, event: str, body: object) -> None:
        """Send *event* in a binary frame (neffos ``EmitBinary``); raise as `emit`."""
        self.emit(event, body, binary=True)

    async def ask(self, event: str, body: object = b"", *, timeout: float | None = None) -> Message:
        """Ask the peer *event* and return its reply (neffos ``NSConn.Ask``).

        Raise `ReconnectingError` or `WriteClosedError` as `emit` does; see `Conn.ask`.
        """
        if self.conn.namespace(self.namespace) is not self:
            raise self.closed_error()
        return await self.conn.ask(Message(self.namespace, event, as_body(body)), timeout)

    def closed_error(self, room: str = "") -> WriteClosedError:
        """Give the error for a write through this namespace (or its *room*) that cannot go out."""
        conn = self.conn
        name = self.namespace
        where = f"room {room!r} of namespace {name!r}" if room else f"namespace {name!r}"
        if conn.is_reconnecting and conn.will_restore(self, room):
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
        server = self.conn.server
        if server is None:
            raise RuntimeError("broadcast needs a server-side connection")
        msg = Message(self.namespace, event, as_body(body), room)
        server.broadcast(msg, exclude=self if exclude_self else None)

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
        joined = self._add_room(room, handle)
        await self.fire_quietly(ev.ON_ROOM_JOINED, local.evolve(event=ev.ON_ROOM_JOINED))
        return joined

    async def leave_room(self, room: str, *, timeout: float | None = None) -> None:
        """Leave *room*; nothing happens if it is not joined. See `Room.leave`.

        While a client reconnects, leaving a room it had joined means it is not restored.
        """
        if room not in self._rooms:
            self.conn.forget_restore(self, room)
            return
        local = Message(self.namespace, ev.ON_ROOM_LEAVE, room=room, is_local=True)
        await self.fire(ev.ON_ROOM_LEAVE, local)
        await self.conn.ask(local, timeout)
        self._remove_room(room)
        await self.fire_quietly(ev.ON_ROOM_LEFT, local.evolve(event=ev.ON_ROOM_LEFT))

    async def leave_all(self, *, timeout: float | None = None) -> None:
        """Leave every joined room (neffos ``LeaveAll``)."""
        for room in list(self._rooms):
            await self.leave_room(room, timeout=timeout)

    def _add_room(self, name: str, handle: Room | None = None) -> Room:
        room = self._rooms[name] = handle if handle is not None else Room(self, name)
        self.conn.room_changed(self, name, joined=True)
        return room

    def _remove_room(self, name: str) -> None:
        if self._rooms.pop(name, None) is not None:
            self.conn.room_changed(self, name, joined=False)

    # -- disconnecting --------------------------------------------------------

    async def disconnect(self, *, timeout: float | None = None) -> None:
        """Disconnect from this namespace (neffos ``NSConn.Disconnect``).

        On the server the client cannot refuse, and the namespace ends here even if the
        client does not answer. On the client the server may refuse: its error is raised
        and the namespace stays connected. While a client reconnects, disconnecting a
        namespace it had connected means it is not restored.
        """
        if self.conn.namespace(self.namespace) is not self:
            self.conn.forget_restore(self)
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
        await self._leave_rooms_locally(is_local=True, forced=forced)
        self.conn.unregister(self)
        end = Message(self.namespace, ev.ON_NAMESPACE_DISCONNECT, is_local=True, is_forced=forced)
        await self.fire_quietly(ev.ON_NAMESPACE_DISCONNECT, end)
        await self.run_cleanups()

    async def _leave_rooms_locally(self, *, is_local: bool, forced: bool) -> None:
        """Leave every room without asking the peer, firing the leave events (neffos forceLeaveAll)."""
        for room in list(self._rooms):
            leave = Message(self.namespace, ev.ON_ROOM_LEAVE, room=room, is_local=is_local, is_forced=forced)
            await self.fire_quietly(ev.ON_ROOM_LEAVE, leave)
            self._remove_room(room)
            await self.fire_quietly(ev.ON_ROOM_LEFT, leave.evolve(event=ev.ON_ROOM_LEFT))

    def defer(self, cleanup: Cleanup) -> None:
        """Run *cleanup* (sync or async) when this namespace connection ends, last added first."""
        self._cleanups.append(cleanup)

    async def run_cleanups(self) -> None:
        """Run the deferred cleanups now; each failure is logged and the rest still run."""
        await run_cleanups(self._cleanups, repr(self))

    # -- handlers -------------------------------------------------------------

    async def fire(self, event: str, msg: Message) -> object:
        """Call this namespace's handler for *event* (or ``_OnAnyEvent``); its error propagates."""
        entry = self._table.lookup(event)
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

    async def run_handler(self, msg: Message) -> None:
        """Run the handler of an incoming user event and answer: reply, error reply or empty reply."""
        if msg.err is not None:
            # An error is always an answer (often a late one, to an ask that timed out), never
            # an ask: the handler sees it, but nothing goes back, or two peers could answer
            # each other's errors for ever.
            await self.fire_quietly(msg.event, msg)
            return
        conn = self.conn
        table = self._table
        entry = table.entries.get(msg.event)
        if entry is None:
            entry = table.on_any
            limit = conn.options.max_name_length
            if entry is None:
                event = clip(msg.event, limit)  # what is logged and remembered stays small too
                unknown_event(table.unknown, conn.id, self.namespace, event)
                if msg.wait:
                    conn.reply_error(msg, f"unknown event {event!r}")
                return
            if utf8_length(msg.event) > limit:
                if msg.wait:
                    conn.reply_error(msg, NAME_TOO_LONG)
                return
        try:
            result = entry.handler(self, msg)
            if entry.is_async or inspect.isawaitable(result):
                result = await result
            body = result if type(result) is bytes else reply_body(result)
        except Exception as exc:
            handler_failed(exc, conn.id, self.namespace, msg.event, msg.room)
            conn.reply_error(msg, error_text(exc))
            return
        if body is not None:
            conn.reply(msg, body)
        elif msg.wait and conn.options.reply_to_unanswered_asks and conn.answered != msg.wait:
            conn.reply_empty(msg.wait)

    async def run_native_handler(self, msg: Message) -> None:
        """Run ``_OnNativeMessage``; a returned body goes back as a native message."""
        try:
            body = reply_body(await self.fire(ev.ON_NATIVE_MESSAGE, msg))
        except Exception as exc:
            handler_failed(exc, self.conn.id, self.namespace, ev.ON_NATIVE_MESSAGE)
            return
        if body is not None:
            self.conn.write(Message("", ev.ON_NATIVE_MESSAGE, body, is_native=True, is_binary=msg.is_binary))

    # -- answering the peer's requests ----------------------------------------

    async def reply_disconnect(self, msg: Message) -> None:
        """Answer the peer's disconnect request; only a server-side handler may refuse it."""
        conn = self.conn
        if not conn.is_client:
            try:
                await self.fire(ev.ON_NAMESPACE_DISCONNECT, msg)
            except Exception as exc:
                handler_failed(exc, conn.id, self.namespace, ev.ON_NAMESPACE_DISCONNECT)
                conn.reply_error(msg, error_text(exc))
                return
        await self._leave_rooms_locally(is_local=False, forced=True)
        conn.unregister(self)
        conn.reply_empty(msg.wait)
        if conn.is_client:
            await self.fire_quietly(ev.ON_NAMESPACE_DISCONNECT, msg)
        await self.run_cleanups()

    async def reply_room_join(self, msg: Message) -> None:
        """Answer the peer's join request: refused past `Options.max_name_length` and
        `Options.max_rooms_per_connection`, then our ``_OnRoomJoin`` may refuse it."""
        if msg.room in self._rooms:
            self.conn.reply_empty(msg.wait)
            return
        options = self.conn.options
        if utf8_length(msg.room) > options.max_name_length:
            self.conn.reply_error(msg, NAME_TOO_LONG)
            return
        joined = sum(len(ns.rooms) for ns in self.conn.namespaces.values())
        if joined >= options.max_rooms_per_connection:
            self.conn.reply_error(msg, TOO_MANY_ROOMS)
            return
        try:
            await self.fire(ev.ON_ROOM_JOIN, msg)
        except Exception as exc:
            handler_failed(exc, self.conn.id, self.namespace, ev.ON_ROOM_JOIN, msg.room)
            self.conn.reply_error(msg, error_text(exc))
            return
        self._add_room(msg.room)
        self.conn.reply_empty(msg.wait)
        await self.fire_quietly(ev.ON_ROOM_JOINED, msg.evolve(event=ev.ON_ROOM_JOINED, wait=""))

    async def reply_room_leave(self, msg: Message) -> None:
        """Answer the peer's leave request; a server-side ``_OnRoomLeave`` may refuse it."""
        if msg.room not in self._rooms:
            self.conn.reply_empty(msg.wait)
            return
        try:
            await self.fire(ev.ON_ROOM_LEAVE, msg)
        except Exception as exc:
            handler_failed(exc, self.conn.id, self.namespace, ev.ON_ROOM_LEAVE, msg.room)
            if not self.conn.is_client:
                self.conn.reply_error(msg, error_text(exc))
                return
            logger.debug("%r: _OnRoomLeave raised on a server request; leaving anyway", self)
        self._remove_room(msg.room)
        self.conn.reply_empty(msg.wait)
        await self.fire_quietly(ev.ON_ROOM_LEFT, msg.evolve(event=ev.ON_ROOM_LEFT, wait=""))
