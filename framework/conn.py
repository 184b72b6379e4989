"""`Conn`: one websocket connection, server side or client side.

The reader runs handlers inline, in order, so the common path creates no task per
message. Replies to this side's own asks are matched in the reader before any handler
runs; when a handler awaits a reply on its own connection, reading moves to a fresh
task while that handler finishes, and messages that arrive meanwhile wait in a backlog,
so order is kept and nothing deadlocks (docs/protocol.md#handler-order).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, final

import attrs
from aiohttp import WSMsgType

from . import events as ev
from .errors import (
    HANDLER_TIMED_OUT,
    RATE_LIMITED,
    AskTimeoutError,
    BacklogFullError,
    BadNamespaceError,
    ReconnectingError,
    WriteClosedError,
    error_text,
    resolve_remote_error,
)
from .limits import RateLimiter, Verdict, clip
from .logs import fields
from .message import Message, as_body
from .ns_conn import NSConn
from .options import Options
from .outbox import FrameSink, Outbox
from .pending import PendingReply
from .protocol import Frame, Tokens, decode, decode_native, empty_reply, encode, encode_fields, encode_native
from .routing import route
from .store import Store

if TYPE_CHECKING:
    from aiohttp import web

    from .room import Room
    from .server import Server

logger = logging.getLogger("aioneffos.conn")

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013

HELD_MESSAGE_OVERHEAD = 256
"""Bytes a held message counts beyond its names and body (the objects that carry it)."""


def _held_size(msg: Message) -> int:
    return len(msg.body) + len(msg.event) + len(msg.room) + len(msg.namespace) + HELD_MESSAGE_OVERHEAD


READING: contextvars.ContextVar[Conn | None] = contextvars.ContextVar("aioneffos_reading", default=None)
"""The connection whose reader runs the current code (its handlers, and tasks they start)."""


class Socket(Protocol):
    """The part of an aiohttp websocket (server or client side) a `Conn` uses."""

    async def receive(self, timeout: float | None = None) -> Any: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...

    @property
    def closed(self) -> bool: ...

    @property
    def close_code(self) -> int | None: ...


class Hub(Protocol):
    """What a `Conn` tells its server: namespace and room membership, for delivery."""

    def namespace_connected(self, ns_conn: NSConn) -> None: ...

    def namespace_disconnected(self, ns_conn: NSConn) -> None: ...

    def room_joined(self, ns_conn: NSConn, room: str) -> None: ...

    def room_left(self, ns_conn: NSConn, room: str) -> None: ...


@final
@attrs.define(eq=False, repr=False)
class Conn:
    """One websocket connection (neffos ``Conn``), server or client side."""

    id: str
    is_client: bool
    _socket: Socket
    _tables: Mapping[str, ev.NamespaceTable]
    options: Options
    _tokens: Tokens
    server: Server | None = None
    """The server that accepted this connection; ``None`` on the client side."""
    request: web.Request | None = None
    """The upgrade request (server side); see `get_request`."""
    reconnect_tries: int = 0
    """The peer's ``X-Websocket-Reconnect`` count (server side) or our own (client side)."""
    key: str = ""
    """A key unique to this connection across a cluster (node id and serial), for exclusion."""
    _hub: Hub | None = None
    store: Store = attrs.field(factory=Store, init=False)
    """Per-connection values, local only (neffos ``Set``/``Get``/``Increment``)."""
    _outbox: Outbox = attrs.field(init=False)
    _sink: FrameSink = attrs.field(init=False)
    _namespaces: dict[str, NSConn] = attrs.field(factory=dict, init=False)
    _waiters: dict[str, PendingReply] = attrs.field(factory=dict, init=False)
    _backlog: deque[Message] | None = attrs.field(default=None, init=False)
    _backlog_bytes: int = attrs.field(default=0, init=False)
    _early: deque[str | bytes] | None = attrs.field(default=None, init=False)
    _backlog_room: asyncio.Event | None = attrs.field(default=None, init=False)
    _reader: asyncio.Task[None] | None = attrs.field(default=None, init=False)
    _handler_task: asyncio.Task[Any] | None = attrs.field(default=None, init=False)
    _busy: bool = attrs.field(default=False, init=False)
    _handler_cancelled: bool = attrs.field(default=False, init=False)
    _answered: str = attrs.field(default="", init=False)
    _acked: bool = attrs.field(default=False, init=False)
    _closing: bool = attrs.field(default=False, init=False)
    _ended: asyncio.Future[None] = attrs.field(init=False)
    _native_only: bool = attrs.field(init=False)
    _supervisor: asyncio.Task[None] | None = attrs.field(default=None, init=False)
    _background: set[asyncio.Task[None]] | None = attrs.field(default=None, init=False)
    _allow_native: bool = attrs.field(init=False)
    _connect_waiters: dict[str, list[asyncio.Future[NSConn]]] | None = attrs.field(default=None, init=False)
    auto_reconnect: bool = attrs.field(default=False, init=False)
    """Whether this client dials again when its socket drops (``dial(reconnect=)``)."""
    _restoring: dict[str, tuple[NSConn, dict[str, Room]]] | None = attrs.field(default=None, init=False)
    _limiter: RateLimiter | None = attrs.field(default=None, init=False)
    paced: bool = attrs.field(default=False, init=False)
    """Set when a handler of this connection published while the server's exchange was
    congested: the reader waits for room (`Server.drain`) before it reads on."""

    def __attrs_post_init__(self) -> None:
        self._native_only = ev.is_native_only(self._tables)
        self._allow_native = ev.allows_native(self._tables)
        self._ended = asyncio.get_running_loop().create_future()
        options = self.options
        if options.max_messages_per_second or options.max_bytes_per_second:
            self._limiter = RateLimiter(
                options.max_messages_per_second, options.max_bytes_per_second, options.max_message_size
            )

    def attach(self, sink: FrameSink) -> None:
        """Give this connection its outbound socket; called once by the glue that made it."""
        options = self.options
        self._sink = sink
        self._outbox = Outbox(
            sink, options.outbound_queue_size, self._slow_consumer, options.outbound_queue_bytes
        )

    def __repr__(self) -> str:
        side = "client" if self.is_client else "server"
        return f"<Conn {self.id!r} {side} namespaces={list(self._namespaces)}>"

    def __str__(self) -> str:
        """Give the connection id, as neffos ``Conn.String()`` does (for logs and exclusions)."""
        return self.id

    # -- state ----------------------------------------------------------------

    @property
    def namespaces(self) -> Mapping[str, NSConn]:
        """Give the connected namespaces, by name."""
        return self._namespaces

    def table(self, namespace: str) -> ev.NamespaceTable | None:
        """Give the compiled handlers of *namespace* on this side, or ``None`` if undeclared."""
        return self._tables.get(namespace)

    def namespace(self, name: str) -> NSConn | None:
        """Give the connection to namespace *name*, or ``None`` when not connected."""
        return self._namespaces.get(name)

    @property
    def is_closed(self) -> bool:
        """Tell whether the connection is closing or closed."""
        return self._closing or self._ended.done()

    @property
    def was_reconnected(self) -> bool:
        """Tell whether this connection is a reconnection (neffos ``WasReconnected``)."""
        return self.reconnect_tries > 0

    @property
    def answered(self) -> str:
        """Give the token of the last ask this side answered (to avoid answering twice)."""
        return self._answered

    @property
    def is_acknowledged(self) -> bool:
        """Tell whether the neffos handshake has completed."""
        return self._acked

    @property
    def close_code(self) -> int | None:
        """Give the websocket close code once the socket has closed (1000, 1001, 1008, ...)."""
        return self._socket.close_code

    @property
    def socket_lost(self) -> bool:
        """Tell whether the socket under this connection is gone or going (either side closed
        it, it was cut, or the peer vanished), even while a handler keeps it from being read."""
        return self._sink.lost

    @property
    def closed_by_us(self) -> bool:
        """Tell whether this side started closing (so a client does not reconnect)."""
        return self._closing

    @property
    def is_reconnecting(self) -> bool:
        """Tell whether this client lost its socket and is dialling again, or restoring its
        namespaces and rooms (``dial(reconnect=)``); writes meanwhile raise `ReconnectingError`."""
        return self._restoring is not None and not self._closing

    @property
    def queued_frames(self) -> int:
        """Count the frames waiting in the outbound queue (0 while the socket keeps up)."""
        return len(self._outbox)

    @property
    def queued_bytes(self) -> int:
        """Count the bytes of the frames waiting in the outbound queue."""
        return self._outbox.queued_bytes

    @property
    def asks_in_flight(self) -> int:
        """Count the asks of this side (and server asks) waiting for this peer's reply."""
        return len(self._waiters)

    @property
    def remote(self) -> str:
        """Give the peer's address as aiohttp sees it (``request.remote``), or ``""`` if unknown."""
        request = self.request
        return (request.remote or "") if request is not None else ""

    async def wait_closed(self) -> None:
        """Wait until the socket has ended."""
        await asyncio.shield(self._ended)

    def closed_error(self) -> WriteClosedError:
        """Give the error for a write on this connection that cannot go out now."""
        if self.is_reconnecting:
            return ReconnectingError(f"connection {self.id!r} dropped and is reconnecting: nothing was sent")
        return WriteClosedError(f"connection {self.id!r} is closed")

    # -- restoring after a reconnection (client side) ----------------------------

    def will_restore(self, ns: NSConn, room: str = "") -> bool:
        """Tell whether *ns* (and its *room*) was live when the socket dropped and is being restored."""
        restoring = self._restoring
        if restoring is None or self._closing:
            return False
        entry = restoring.get(ns.namespace)
        return entry is not None and entry[0] is ns and (not room or room in entry[1])

    def forget_restore(self, ns: NSConn, room: str = "") -> None:
        """Do not restore *ns* (or only its *room*): the program left it while reconnecting."""
        restoring = self._restoring
        entry = restoring.get(ns.namespace) if restoring is not None else None
        if restoring is None or entry is None or entry[0] is not ns:
            return
        if room:
            entry[1].pop(room, None)
        else:
            del restoring[ns.namespace]

    def to_restore(self) -> list[tuple[NSConn, list[Room]]]:
        """Give the namespaces (and rooms) to restore on a new socket, in the order joined."""
        restoring = self._restoring or {}
        return [(ns, list(rooms.values())) for ns, rooms in restoring.values()]

    def end_restore(self) -> None:
        """Stop reconnecting: every handle is restored, or the client gave up."""
        self._restoring = None

    def _remember_for_restore(self) -> None:
        """Keep the live namespaces and rooms (the very objects) to restore after reconnecting."""
        restoring = self._restoring if self._restoring is not None else {}
        for name, ns in self._namespaces.items():
            entry = restoring.setdefault(name, (ns, {}))
            if entry[0] is ns:
                entry[1].update(ns.rooms)
        self._restoring = restoring

    # -- writing --------------------------------------------------------------

    def send_frame(self, frame: Frame, *, urgent: bool = False) -> bool:
        """Queue one encoded frame; return False if the connection is closed."""
        if self._closing:
            return False
        return self._outbox.put(frame, urgent=urgent)

    def write(self, msg: Message) -> bool:
        """Write *msg* to the peer as it is (neffos ``Conn.Write``); return False if refused.

        Refused when the namespace is not connected (except connect/disconnect requests)
        or the room is not joined (except join requests), as neffos ``canWrite``.
        A native message goes raw to native-only peers, else in the 7-field form.
        """
        if msg.is_native:
            if self._native_only:
                return self.send_frame(encode_native(msg.body, binary=msg.is_binary))
            if "" not in self._namespaces:
                return False
            return self.send_frame(
                encode(Message("", ev.ON_NATIVE_MESSAGE, msg.body, is_binary=msg.is_binary))
            )
        event = msg.event
        if event != ev.ON_NAMESPACE_CONNECT and event != ev.ON_NAMESPACE_DISCONNECT:
            ns = self._namespaces.get(msg.namespace)
            if ns is None:
                return False
            if (
                msg.room
                and event != ev.ON_ROOM_JOIN
                and event != ev.ON_ROOM_LEFT
                and msg.room not in ns.rooms
            ):
                return False
        return self._answer(msg.wait, encode(msg))

    def write_native(self, body: object, *, binary: bool = False) -> bool:
        """Send *body* as a native message (neffos ``Conn.Socket().WriteText``/``WriteBinary``).

        To a native-only peer it is the raw websocket frame (text, or binary with
        *binary* or a body that is not UTF-8); otherwise it travels as an
        ``_OnNativeMessage`` event of namespace ``""``, which must be connected. Return
        False when it cannot be sent. Raise `TypeError` for a body `Message` cannot carry.
        """
        return self.write(Message("", ev.ON_NATIVE_MESSAGE, as_body(body), is_native=True, is_binary=binary))

    def reply(self, msg: Message, body: bytes) -> None:
        """Answer *msg* with *body*, reusing its token, names and frame type
        (docs/protocol.md#reply-fields)."""
        frame = encode_fields(msg.wait, msg.namespace, msg.room, msg.event, body, binary=msg.is_binary)
        self._answer(msg.wait, frame)

    def reply_error(self, msg: Message, text: str) -> None:
        """Answer *msg* with an error reply carrying *text*; names past `Options.max_name_length`
        are cut, so an error never echoes megabytes back."""
        namespace, room, event = msg.namespace, msg.room, msg.event
        limit = self.options.max_name_length
        if len(namespace) + len(room) + len(event) > limit:
            namespace, room, event = clip(namespace, limit), clip(room, limit), clip(event, limit)
        # Always text: neffos.js reads a binary error as "[object ArrayBuffer]".
        self._answer(msg.wait, encode_fields(msg.wait, namespace, room, event, b"", err=text))

    def reply_empty(self, wait: str) -> None:
        """Send the empty reply ``<wait>;;;;;;`` (the positive answer to a request)."""
        self._answer(wait, empty_reply(wait))

    def _answer(self, wait: str, frame: Frame) -> bool:
        """Send *frame*; when it answers an ask (*wait*), remember that and let it jump the queue."""
        if wait:
            self._answered = wait
        if self._closing:
            return False
        return self._outbox.put(frame, urgent=bool(wait))

    def _slow_consumer(self) -> None:
        logger.warning("closing %r: outbound queue full (slow consumer)", self)
        self.fire_and_forget(lambda: self.close(CLOSE_POLICY, "slow consumer", drain=False))

    # -- asking ---------------------------------------------------------------

    async def ask(self, msg: Message, timeout: float | None = None) -> Message:
        """Send *msg* as an ask and return the reply (neffos ``Conn.Ask``).

        Raise `AskTimeoutError` after *timeout* (default `Options.ask_timeout`),
        `WriteClosedError` if the connection closes first, or the typed error of an
        error reply (`BadNamespaceError`, `RemoteError`, ...).
        """
        if self.is_closed:
            raise self.closed_error()
        token = self._tokens.next()
        frame = encode_fields(token, msg.namespace, msg.room, msg.event, msg.body, binary=msg.is_binary)
        pending = PendingReply(asyncio.get_running_loop().create_future())
        self._waiters[token] = pending
        try:
            self._keep_reading()
            # Urgent: an ask made while the peer's own ask is handled must not be held
            # (docs/protocol.md#reply-order).
            if not self.send_frame(frame, urgent=True):
                raise self.closed_error()
            reply = await self.await_reply(pending, msg.event, timeout)
        finally:
            self._waiters.pop(token, None)
        if reply.err is not None:
            raise resolve_remote_error(reply.err)
        return reply

    async def await_reply(self, pending: PendingReply, event: str, timeout: float | None) -> Message:
        """Wait for *pending* to be resolved, raising `AskTimeoutError` after *timeout*."""
        seconds = self.options.ask_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(seconds):
                return await pending.future
        except TimeoutError:
            raise AskTimeoutError(f"no reply to {event!r} from {self.id!r} within {seconds:g}s") from None

    def expect_reply(self, token: str, pending: PendingReply) -> None:
        """Register *pending* to be resolved by the reply carrying *token* (server asks)."""
        self._waiters[token] = pending
        self._keep_reading()

    def forget_reply(self, token: str) -> None:
        """Stop waiting for *token*."""
        self._waiters.pop(token, None)

    def _keep_reading(self) -> None:
        """Make sure a task is reading, so a reply can arrive while a handler awaits it."""
        if self._ended.done():
            return
        if self._reader is None:
            if self._acked or self._native_only:
                self._reader = asyncio.get_running_loop().create_task(self.read_forever())
        elif self._busy and self._handler_task is self._reader:
            # The reader is inside a handler that now waits for a reply: hand reading
            # to a fresh task; the handler's task stops reading when it returns.
            self._reader = asyncio.get_running_loop().create_task(self.read_forever())
        if self._backlog_room is not None:
            # A reader paused on a full backlog must read on: the reply may be next.
            self._backlog_room.set()
            self._backlog_room = None

    # -- reading --------------------------------------------------------------

    async def read_forever(self) -> None:
        """Read and handle messages until the socket ends or reading moves to another task.

        The caller's task becomes the reader unless one is already running; after this
        returns, `wait_closed` tells when the socket has really ended.
        """
        me = asyncio.current_task()
        if self._reader is None:
            self._reader = me
        limiter = self._limiter
        READING.set(self)
        receive = self._socket.receive
        read_timeout = self.options.read_timeout
        allow_native = self._allow_native
        native_only = self._native_only
        own_first = self._tokens.first_chars
        text, binary = WSMsgType.TEXT, WSMsgType.BINARY
        try:
            while self._reader is me:
                early = self._early
                if early:
                    data = early.popleft()
                else:
                    try:
                        raw = await receive(read_timeout)
                    except TimeoutError:
                        logger.info("closing %r: nothing read for %ss", self, read_timeout)
                        await self.close(CLOSE_POLICY, "read timeout")
                        break
                    kind = raw.type
                    if kind is not text and kind is not binary:
                        if kind is WSMsgType.ERROR:
                            logger.info("%r: socket error %s", self, raw.data)
                        break
                    data = raw.data
                msg = decode_native(data) if native_only else decode(data, allow_native=allow_native)
                if msg is None:
                    logger.debug("%r: dropped invalid frame %.80r", self, data)
                    continue
                if msg.wait and self._waiters:
                    pending = self._waiters.pop(msg.wait, None)
                    if pending is not None:
                        pending.resolve(msg)
                        # Let the asker resume first: a connect or join registers its
                        # namespace or room there, and the peer may use it in the very next
                        # frame (neffos conn.go tryNamespace waits for the connect too).
                        await asyncio.sleep(0)
                        continue
                if msg.wait and msg.wait[0] in own_first and self._tokens.issued(msg.wait):
                    logger.debug("%r: dropped a late reply to ask %s", self, msg.wait)
                    continue
                if limiter is not None and (verdict := limiter.admit(len(data))):
                    if verdict is Verdict.CLOSE:
                        logger.warning(
                            "closing %r: still sending past its rate limit", self, extra=fields(self.id)
                        )
                        await self.close(CLOSE_POLICY, RATE_LIMITED)
                        break
                    if msg.wait and not msg.is_native:
                        self.reply_error(msg, RATE_LIMITED)
                    continue
                if self._busy:
                    await self._hold(msg)
                    continue
                # Handled right here, in order: no task and no queue hop per message.
                self._busy = True
                self._handler_task = me
                try:
                    await self._handle(msg)
                    if self._backlog:
                        await self._handle_backlog()
                finally:
                    self._busy = False
                    self._handler_task = None
                if self.paced:
                    await self._pace()
            else:
                return  # reading was handed to another task
        except asyncio.CancelledError:
            if self._reader is me:
                self._socket_ended()
            raise
        self._socket_ended()

    async def _pace(self) -> None:
        """Backpressure: wait (bounded) for room on the bus before reading this peer's next frame,
        unless an ask of ours waits for the peer, whose reply must not be held up."""
        self.paced = False
        server = self.server
        if server is not None and not self._waiters:
            await server.drain()

    def read_first(self, frames: Iterable[str | bytes]) -> None:
        """Have the reader handle *frames* (received before the handshake) before the socket's."""
        self._early = deque(frames)

    async def _hold(self, msg: Message) -> None:
        backlog = self._backlog
        if backlog is None:
            backlog = self._backlog = deque()
        backlog.append(msg)
        self._backlog_bytes += _held_size(msg)
        options = self.options
        # Pause while the backlog is full. While an ask of this connection waits, its reply
        # may be the next frame and pausing would deadlock the asker: read on, but only up to
        # the byte budget; past it the waiting asks are given up, and then reading pauses.
        while self._busy and (
            len(backlog) >= options.inbound_backlog_size
            or self._backlog_bytes >= options.inbound_backlog_bytes
        ):
            if self._ended.done():
                return
            if self._waiters:
                if self._backlog_bytes < options.inbound_backlog_bytes:
                    return
                self._give_up_asks()
            room = self._backlog_room = asyncio.Event()
            await room.wait()

    def _give_up_asks(self) -> None:
        """Fail every ask of this connection that waits for a reply (the backlog is full)."""
        limit = self.options.inbound_backlog_bytes
        logger.warning(
            "%r: the peer sent %d bytes while %d ask(s) waited for its reply: giving them up",
            self,
            self._backlog_bytes,
            len(self._waiters),
            extra=fields(self.id),
        )
        waiting = list(self._waiters.values())
        self._waiters.clear()
        for pending in waiting:
            pending.fail(
                BacklogFullError(
                    f"gave up waiting for a reply from {self.id!r}: it sent more than "
                    f"inbound_backlog_bytes ({limit}) meanwhile"
                )
            )

    async def _handle(self, msg: Message) -> None:
        """Handle one message; every failure becomes an answer, never a crash.

        While the peer's ask is handled, our other frames to it wait, so the answer is the
        next frame it reads (docs/protocol.md#reply-order: the Go client relies on it inside callbacks).
        """
        asked = msg.wait
        if asked:
            self._outbox.hold()
        try:
            work = route(self, msg)
            if work is not None:
                seconds = self.options.handler_timeout
                if seconds is None:
                    await work
                else:
                    await self._handle_within(seconds, work, msg)
        except Exception:
            self._handling_failed(msg)
        except asyncio.CancelledError:
            if not self._cancelled_by_us():
                raise
            logger.info(
                "%r: cancelled the handler of %r (the connection ended)",
                self,
                msg.event,
                extra=fields(self.id, msg.namespace, msg.event, msg.room),
            )
        finally:
            if asked:
                self._outbox.release()

    async def _handle_within(self, seconds: float, work: Awaitable[None], msg: Message) -> None:
        """Await *work*; past *seconds* cancel it and answer with an error (`Options.handler_timeout`)."""
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                await work
        except TimeoutError:
            if not scope.expired():
                raise
            logger.warning(
                "%r: the handler of %r ran past %gs: cancelled",
                self,
                msg.event,
                seconds,
                extra=fields(self.id, msg.namespace, msg.event, msg.room),
            )
            if not msg.is_native and (not msg.wait or self._answered != msg.wait):
                self.reply_error(msg, HANDLER_TIMED_OUT)

    def cancel_handler(self) -> bool:
        """Cancel the handler this connection is running (unless it is the caller); tell whether
        there was one. Its connection should have ended: the messages held behind it are dropped."""
        task = self._handler_task
        if task is None or task.done() or task is asyncio.current_task():
            return False
        self._handler_cancelled = True
        task.cancel()
        return True

    def _cancelled_by_us(self) -> bool:
        """Tell whether the cancellation unwinding the current task came from `cancel_handler`;
        if so, take it back so the task reads on to the end of the socket and tears down."""
        if not self._handler_cancelled:
            return False
        task = asyncio.current_task()
        # Someone else (aiohttp's shutdown) cancelling as well: let the cancellation go on.
        return task is not None and task.uncancel() == 0

    def _handling_failed(self, msg: Message) -> None:
        """A bug of ours (handler errors are answered in `NSConn.run_handler`): log it, answer the ask."""
        logger.exception("%r: failed to handle %r", self, msg)
        if msg.wait and self._answered != msg.wait:
            self.reply_error(msg, "internal error")

    async def _handle_backlog(self) -> None:
        """Handle, in order, what arrived while a handler of this connection awaited its ask."""
        while self._backlog and not self._handler_cancelled:
            if self._backlog_room is not None:
                self._backlog_room.set()
                self._backlog_room = None
            msg = self._backlog.popleft()
            self._backlog_bytes -= _held_size(msg)
            await self._handle(msg)
        self._backlog = None
        self._backlog_bytes = 0

    def _socket_ended(self) -> None:
        if self._ended.done():
            return
        self._ended.set_result(None)
        self._outbox.close()
        if self.auto_reconnect and not self._closing:
            self._remember_for_restore()
        lost = self.closed_error() if self.is_reconnecting else None
        for pending in list(self._waiters.values()):
            pending.connection_lost(lost)
        self._waiters.clear()
        if self._backlog_room is not None:
            self._backlog_room.set()
        if self.options.cancel_handlers_on_close:
            self.cancel_handler()

    # -- namespaces -----------------------------------------------------------

    def register(self, ns: NSConn) -> None:
        """Record *ns* as connected and tell the server."""
        self._namespaces[ns.namespace] = ns
        if self._hub is not None:
            self._hub.namespace_connected(ns)
        if self._connect_waiters is not None:
            for waiter in self._connect_waiters.pop(ns.namespace, ()):
                if not waiter.done():
                    waiter.set_result(ns)

    def unregister(self, ns: NSConn) -> None:
        """Forget *ns* and tell the server."""
        if self._namespaces.get(ns.namespace) is ns:
            del self._namespaces[ns.namespace]
            if self._hub is not None:
                self._hub.namespace_disconnected(ns)

    def room_changed(self, ns: NSConn, room: str, joined: bool) -> None:
        """Tell the server that *ns* joined or left *room*."""
        if self._hub is not None:
            if joined:
                self._hub.room_joined(ns, room)
            else:
                self._hub.room_left(ns, room)

    async def connect(self, namespace: str, timeout: float | None = None) -> NSConn:
        """Connect to *namespace* and return its `NSConn` (neffos ``Conn.Connect``).

        On the server this asks the client to connect, after the ack (docs/protocol.md#on-connect). Our
        own ``_OnNamespaceConnect`` handler runs first and may refuse by raising.
        Raise `BadNamespaceError` if the namespace is not declared on this side, or the
        typed error of the peer's refusal.
        """
        existing = self._namespaces.get(namespace)
        if existing is not None:
            return existing
        table = self._tables.get(namespace)
        if table is None:
            side = "client (declare it in dial's namespaces)" if self.is_client else "server"
            raise BadNamespaceError(
                f"namespace {namespace!r} is not declared on this {side}", namespace=namespace
            )
        if self.is_closed:
            raise self.closed_error()
        if not self.is_client:
            self.send_ack()
        return await self.open_namespace(NSConn(self, namespace, table), timeout)

    async def open_namespace(self, ns: NSConn, timeout: float | None = None) -> NSConn:
        """Connect *ns* (new, or connected before a reconnection): our ``_OnNamespaceConnect``
        first, then the peer's answer, then ``_OnNamespaceConnected``. On a refusal the
        cleanups the hook deferred run and the error is raised."""
        local = Message(ns.namespace, ev.ON_NAMESPACE_CONNECT, is_local=True)
        try:
            await ns.fire(ev.ON_NAMESPACE_CONNECT, local)
            await self.ask(local, timeout)
        except BadNamespaceError as exc:
            await ns.run_cleanups()
            if exc.namespace is not None:
                raise
            text = "the server has no namespace" if self.is_client else "the client did not declare namespace"
            raise BadNamespaceError(
                f"{text} {ns.namespace!r} (it answered 'bad namespace')", namespace=ns.namespace
            ) from None
        except BaseException:
            await ns.run_cleanups()
            raise
        self.register(ns)
        await ns.fire_quietly(ev.ON_NAMESPACE_CONNECTED, local.evolve(event=ev.ON_NAMESPACE_CONNECTED))
        return ns

    async def wait_connect(self, namespace: str, *, timeout: float | None = None) -> NSConn:
        """Wait until *namespace* is connected, by the peer or by this side, and return it.

        A client uses it when the server connects it (neffos ``Client.WaitServerConnect``,
        ``Conn.WaitConnect``): from ``on_connect``, say; with ``dial(reconnect=)`` it also
        waits through a reconnection until the namespace is restored. Raise
        `AskTimeoutError` after *timeout* (default `Options.ask_timeout`), or
        `WriteClosedError` if the connection ends for good first. A namespace the peer never
        connects is only found out by the timeout.
        """
        existing = self._namespaces.get(namespace)
        if existing is not None:
            return existing
        if self.is_closed and not self.is_reconnecting:
            raise self.closed_error()
        waiter: asyncio.Future[NSConn] = asyncio.get_running_loop().create_future()
        if self._connect_waiters is None:
            self._connect_waiters = {}
        self._connect_waiters.setdefault(namespace, []).append(waiter)
        seconds = self.options.ask_timeout if timeout is None else timeout
        # A client's connection ends for good when its supervisor (read and reconnect) does.
        end: asyncio.Future[Any] = self._supervisor if self._supervisor is not None else self._ended
        try:
            done, _ = await asyncio.wait((waiter, end), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiters = self._connect_waiters.get(namespace)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._connect_waiters[namespace]
        if waiter in done:
            return waiter.result()
        waiter.cancel()
        if done:
            raise self.closed_error()
        raise AskTimeoutError(f"{namespace!r} was not connected on {self.id!r} within {seconds:g}s")

    async def disconnect_all(self, *, timeout: float | None = None) -> None:
        """Disconnect every connected namespace (neffos ``Conn.DisconnectAll``); see `NSConn.disconnect`.

        Each namespace is tried, in order, even when one fails; the first failure is then
        raised. Nothing happens on a native-only connection, which has no namespaces to leave.
        """
        if self._native_only:
            return
        first: Exception | None = None
        for ns in list(self._namespaces.values()):
            try:
                await ns.disconnect(timeout=timeout)
            except Exception as exc:
                logger.debug("%r: disconnecting %r failed: %s", self, ns.namespace, exc)
                if first is None:
                    first = exc
        if first is not None:
            raise first

    def send_ack(self) -> None:
        """Send ``A<id>`` once; before it nothing else may be written (docs/protocol.md#ack-first)."""
        if self._acked or self.is_client:
            return
        self._acked = True
        self.send_frame(Frame(f"A{self.id}".encode(), True), urgent=True)

    def mark_acknowledged(self) -> None:
        """Record that the handshake completed (client side, on ``A<id>``)."""
        self._acked = True

    def fire_and_forget(self, work: Callable[[], Awaitable[Any]]) -> None:
        """Run *work* in a task, logging its failure."""

        async def run() -> None:
            try:
                await work()
            except Exception:
                logger.exception("%r: background work failed", self)

        # Keep a reference: the event loop holds tasks only weakly.
        if self._background is None:
            self._background = set()
        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- closing --------------------------------------------------------------

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "", *, drain: bool = True) -> None:
        """Close with a real close frame (1000 by default) after queued frames drain.

        Within `Options.close_timeout` the queued frames drain and the peer answers the close
        frame; past it (a peer that stopped reading) the socket is cut. Either way the
        connection has ended when this returns (its teardown follows in the task serving it).
        """
        if self._closing:
            await self.wait_closed()
            return
        reconnecting = self.is_reconnecting
        self._closing = True
        seconds = self.options.close_timeout
        try:
            async with asyncio.timeout(seconds):
                if drain:
                    await self._outbox.drain()
                await self._socket.close(code=code, message=reason.encode()[:123])
        except (TimeoutError, ConnectionError) as exc:
            # Waiting for a peer that does not read would hold this connection (its fd, its
            # rooms, its count) for as long as the peer keeps TCP open: cut it now.
            reason_text = error_text(exc)
            logger.info(
                "%r: close not done within %gs (%s): cutting the socket",
                self,
                seconds,
                reason_text,
                extra=fields(self.id),
            )
            self._sink.abort()
        self._socket_ended()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not asyncio.current_task():
            if reconnecting:
                supervisor.cancel()  # it may be waiting for its next dial: stop now
            await asyncio.wait([supervisor], timeout=seconds)

    def supervise(self, work: Coroutine[Any, Any, None]) -> None:
        """Run *work* (a client's read-and-reconnect loop) for as long as this connection lives."""
        self._supervisor = asyncio.get_running_loop().create_task(work)

    def rebind(self, conn_id: str, socket: Socket, sink: FrameSink, tries: int) -> None:
        """Continue on a new socket after a reconnection (client side)."""
        self.id = conn_id
        self._socket = socket
        self.attach(sink)
        self.reconnect_tries = tries
        self._ended = asyncio.get_running_loop().create_future()
        self._reader = None
        self._busy = False
        self._handler_cancelled = False
        self._backlog = None
        self._backlog_bytes = 0
        self._acked = True

    async def teardown(self) -> None:
        """Fire the forced local leave and disconnect events of every namespace (neffos Close)."""
        self._socket_ended()
        for ns in list(self._namespaces.values()):
            await ns.end_locally(forced=True)
