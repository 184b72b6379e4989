"""`Conn`: one websocket connection, server side or client side.

A `Conn` is composed of parts that do not know it: per socket, the `InboundLoop` (reading,
handler order, the backlog), the `Writer` (what may be written, replies) over the `Outbox`
(ordered, bounded writes), and the transport's `Socket` and `FrameSink`; for its life, the
`AskTable` (this side's asks waiting for replies). What remains here is the connection's
identity and state, its namespaces and closing. A server-side connection reports
membership to its `Hub` (the `Server`); a client's reading task, and the handles it
restores after a reconnection, are its `ClientSide` (kept by `dial`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, final

import attrs

from . import events as ev
from .asks import AskTable
from .background import Background
from .errors import (
    AskTimeoutError,
    ReconnectingError,
    WriteClosedError,
    resolve_remote_error,
)
from .inbound import InboundLoop
from .message import Message, as_body
from .ns_conn import NSConn, connect, disconnect_all
from .options import Options
from .outbox import Outbox
from .protocol import SLOW_CONSUMER, CloseCode, Frame, Tokens, encode_fields
from .seams import ClientSide, Hub, Router
from .store import Store
from .tables import NamespaceTable, allows_native, is_native_only
from .transport import FrameSink, Socket, close_or_cut
from .waiters import NamedWaiters
from .writing import Writer

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger("aioneffos.conn")


@final
@attrs.define(eq=False, repr=False)
class Conn:
    """One websocket connection (neffos ``Conn``), server or client side."""

    id: str
    is_client: bool
    tables: Mapping[str, NamespaceTable]
    """The compiled handlers of every namespace this side declares."""
    options: Options
    _tokens: Tokens
    _route: Router[Conn]
    hub: Hub[NSConn] | None = None
    """The server this connection belongs to (server side; see `get_server`), else ``None``."""
    request: web.Request | None = None
    """The upgrade request (server side); see `get_request`."""
    reconnect_tries: int = 0
    """The peer's ``X-Websocket-Reconnect`` count (server side) or our own (client side)."""
    key: str = ""
    """A key unique to this connection across a cluster (node id and serial), for exclusion."""
    client: ClientSide[NSConn] | None = None
    """What `dial` keeps for a client connection (its reading task, the handles it restores
    after a reconnection); ``None`` on the server side."""
    _store: Store | None = attrs.field(default=None, init=False)
    asks: AskTable = attrs.field(init=False)
    """This side's asks (and the server's asks) waiting for this peer's reply."""
    writer: Writer = attrs.field(init=False)
    """What may be written, and how answers go out (for the current socket)."""
    _socket: Socket = attrs.field(init=False)
    _sink: FrameSink = attrs.field(init=False)
    _outbox: Outbox = attrs.field(init=False)
    inbound: InboundLoop[Conn] = attrs.field(init=False)
    """Reads this connection (for the current socket): ``await conn.inbound.run()`` until the
    socket ends or reading moves to another task; then `wait_closed` tells when it has ended."""
    _namespaces: dict[str, NSConn] = attrs.field(factory=dict, init=False)
    namespaces: Mapping[str, NSConn] = attrs.field(init=False)
    """The connected namespaces, by name (a read-only view: `connect`, `NSConn.disconnect`)."""
    closed_with: tuple[int, str] | None = attrs.field(default=None, init=False)
    """The close code and reason this side sent when it started closing (`close`); ``None``
    when the peer closed first or the socket was lost (`close_code` gives the peer's code)."""
    _acked: bool = attrs.field(default=False, init=False)
    _ended: bool = attrs.field(default=False, init=False)
    _ended_future: asyncio.Future[None] | None = attrs.field(default=None, init=False)
    """Made only when something waits for the end (`wait_closed`): most connections end unwatched."""
    _native_only: bool = attrs.field(init=False)
    _background: Background | None = attrs.field(default=None, init=False)
    _connect_waiters: NamedWaiters[NSConn] | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._native_only = is_native_only(self.tables)
        self.namespaces = self._namespaces  # the same dict: routing looks names up with no call
        self.asks = AskTable(self._tokens, self)

    def attach(self, socket: Socket, sink: FrameSink) -> None:
        """Give this connection its socket: called once by the transport that made it (and
        again by a client's reconnection, with the new socket)."""
        options = self.options
        self._socket = socket
        self._sink = sink
        self._outbox = outbox = Outbox(
            sink, options.outbound_queue_size, self._slow_consumer, options.outbound_queue_bytes
        )
        # A new writer per socket: a connection that started closing never gets another one.
        self.writer = Writer(
            outbox, self._namespaces, native_only=self._native_only, name_limit=options.max_name_length
        )
        self.inbound = InboundLoop(
            self,
            socket,
            self._route,
            self.asks,
            outbox,
            options,
            native_only=self._native_only,
            allow_native=allows_native(self.tables),
        )

    def __repr__(self) -> str:
        side = "client" if self.is_client else "server"
        return f"<Conn {self.id!r} {side} namespaces={list(self._namespaces)}>"

    def __str__(self) -> str:
        """Give the connection id, as neffos ``Conn.String()`` does (for logs and exclusions)."""
        return self.id

    # -- state ----------------------------------------------------------------

    @property
    def store(self) -> Store:
        """Per-connection values, local only (neffos ``Set``/``Get``/``Increment``)."""
        store = self._store
        if store is None:  # made on first use: most connections never need one
            store = self._store = Store()
        return store

    def namespace(self, name: str) -> NSConn | None:
        """Give the connection to namespace *name*, or ``None`` when not connected."""
        return self._namespaces.get(name)

    @property
    def is_closed(self) -> bool:
        """Tell whether the connection is closing or closed."""
        return self.writer.closing or self._ended

    @property
    def was_reconnected(self) -> bool:
        """Tell whether this connection is a reconnection (neffos ``WasReconnected``)."""
        return self.reconnect_tries > 0

    @property
    def answered(self) -> str:
        """Give the token of the last ask this side answered (to avoid answering twice)."""
        return self.writer.answered

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
        return self.writer.closing

    @property
    def is_reconnecting(self) -> bool:
        """Tell whether this client lost its socket and is dialling again, or restoring its
        namespaces and rooms (``dial(reconnect=)``); writes meanwhile raise `ReconnectingError`."""
        client = self.client
        return client is not None and client.reconnecting and not self.writer.closing

    @property
    def queued_frames(self) -> int:
        """Count the frames waiting in the outbound queue (0 while the socket keeps up)."""
        return len(self._outbox)

    @property
    def queued_bytes(self) -> int:
        """Count the bytes of the frames waiting in the outbound queue."""
        return self._outbox.queued_bytes

    @property
    def peak_queued_frames(self) -> int:
        """Count the most frames the outbound queue has held at once (its high-water mark)."""
        return self._outbox.peak_frames

    @property
    def peak_queued_bytes(self) -> int:
        """Count the most bytes the outbound queue has held at once (its high-water mark)."""
        return self._outbox.peak_bytes

    @property
    def asks_in_flight(self) -> int:
        """Count the asks of this side (and server asks) waiting for this peer's reply."""
        return len(self.asks)

    @property
    def remote(self) -> str:
        """Give the peer's address as aiohttp sees it (``request.remote``), or ``""`` if unknown."""
        request = self.request
        return (request.remote or "") if request is not None else ""

    async def wait_closed(self) -> None:
        """Wait until the socket has ended."""
        if not self._ended:
            await asyncio.shield(self._end_future())

    def _end_future(self) -> asyncio.Future[None]:
        """Give the future the socket's end resolves, made on first use."""
        future = self._ended_future
        if future is None:
            future = self._ended_future = asyncio.get_running_loop().create_future()
            if self._ended:
                future.set_result(None)
        return future

    def closed_error(self) -> WriteClosedError:
        """Give the error for a write on this connection that cannot go out now."""
        if self.is_reconnecting:
            return ReconnectingError(f"connection {self.id!r} dropped and is reconnecting: nothing was sent")
        return WriteClosedError(f"connection {self.id!r} is closed")

    # -- writing --------------------------------------------------------------

    def send_frame(self, frame: Frame, *, urgent: bool = False) -> bool:
        """Queue one encoded frame; return False if the connection is closed."""
        return self.writer.send(frame, urgent=urgent)

    def write(self, msg: Message) -> bool:
        """Write *msg* to the peer as it is (neffos ``Conn.Write``); return False if refused.

        Refused when the namespace is not connected (except connect/disconnect requests)
        or the room is not joined (except join requests), as neffos ``canWrite``.
        A native message goes raw to native-only peers, else in the 7-field form.
        """
        return self.writer.write(msg)

    def write_native(self, body: object, *, binary: bool = False) -> bool:
        """Send *body* as a native message (neffos ``Conn.Socket().WriteText``/``WriteBinary``).

        To a native-only peer it is the raw websocket frame (text, or binary with
        *binary* or a body that is not UTF-8); otherwise it travels as an
        ``_OnNativeMessage`` event of namespace ``""``, which must be connected. Return
        False when it cannot be sent. Raise `TypeError` for a body `Message` cannot carry.
        """
        return self.writer.write(
            Message("", ev.ON_NATIVE_MESSAGE, as_body(body), is_native=True, is_binary=binary)
        )

    def reply(self, msg: Message, body: bytes) -> None:
        """Answer *msg* with *body*, reusing its token, names and frame type
        (docs/protocol.md#reply-fields)."""
        self.writer.reply(msg, body)

    def reply_error(self, msg: Message, text: str) -> None:
        """Answer *msg* with an error reply carrying *text*; names past `Options.max_name_length`
        are cut, so an error never echoes megabytes back."""
        self.writer.reply_error(msg, text)

    def _slow_consumer(self) -> None:
        logger.warning("closing %r: outbound queue full (slow consumer)", self)
        self.fire_and_forget(lambda: self.close(CloseCode.POLICY_VIOLATION, SLOW_CONSUMER, drain=False))

    # -- asking and reading --------------------------------------------------------

    async def ask(self, msg: Message, timeout: float | None = None) -> Message:
        """Send *msg* as an ask and return the reply (neffos ``Conn.Ask``).

        Raise `AskTimeoutError` after *timeout* (default `Options.ask_timeout`),
        `WriteClosedError` if the connection closes first, or the typed error of an
        error reply (`BadNamespaceError`, `RemoteError`, ...).
        """
        if self.is_closed:
            raise self.closed_error()
        asks = self.asks
        token, pending = asks.open()
        frame = encode_fields(token, msg.namespace, msg.room, msg.event, msg.body, binary=msg.is_binary)
        try:
            # Urgent: an ask made while the peer's own ask is handled must not be held
            # (docs/protocol.md#reply-order).
            if not self.send_frame(frame, urgent=True):
                raise self.closed_error()
            seconds = self.options.ask_timeout if timeout is None else timeout
            reply = await pending.wait(seconds, msg.event, repr(self.id))
        finally:
            asks.forget(token)
        if reply.err is not None:
            raise resolve_remote_error(reply.err)
        return reply

    def keep_reading(self) -> None:
        """Make sure a task reads this connection, so a reply can arrive while a handler awaits it."""
        self.inbound.keep_reading(start=self._acked or self._native_only)

    def cancel_handler(self) -> bool:
        """Cancel the handler this connection is running (unless it is the caller); tell whether
        there was one. Its connection should have ended: the messages held behind it are dropped."""
        return self.inbound.cancel_handler()

    async def pace(self) -> None:
        """Wait, bounded, until the server's exchange has room again (backpressure on a
        publisher; see `Server.broadcast`)."""
        if self.hub is not None:
            await self.hub.drain()

    def socket_ended(self) -> None:
        """Learn that the socket has ended: fail the waiting asks, stop the outbox (and, for a
        reconnecting client, remember the handles to restore)."""
        if self._ended:
            return
        self._ended = True
        if self._ended_future is not None:
            self._ended_future.set_result(None)
        self._outbox.close()
        if self.client is not None and not self.writer.closing:
            self.client.remember(self._namespaces)
        self.asks.lose_all(self.closed_error() if self.is_reconnecting else None)
        self.inbound.end(cancel_handler=self.options.cancel_handlers_on_close)

    # -- namespaces -----------------------------------------------------------

    def register(self, ns: NSConn) -> None:
        """Record *ns* as connected and tell the hub."""
        self._namespaces[ns.namespace] = ns
        if self.hub is not None:
            self.hub.namespace_connected(ns)
        if self._connect_waiters is not None:
            self._connect_waiters.resolve(ns.namespace, ns)

    def unregister(self, ns: NSConn) -> None:
        """Forget *ns* and tell the hub."""
        if self._namespaces.get(ns.namespace) is ns:
            del self._namespaces[ns.namespace]
            if self.hub is not None:
                self.hub.namespace_disconnected(ns)

    async def connect(self, namespace: str, timeout: float | None = None) -> NSConn:
        """Connect to *namespace* and return its `NSConn` (neffos ``Conn.Connect``).

        On the server this asks the client to connect, after the ack (docs/protocol.md#on-connect).
        Our own ``_OnNamespaceConnect`` handler runs first and may refuse by raising.
        Raise `BadNamespaceError` if the namespace is not declared on this side, or the
        typed error of the peer's refusal.
        """
        return await connect(self, namespace, timeout)

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
        if self._connect_waiters is None:
            self._connect_waiters = NamedWaiters()
        seconds = self.options.ask_timeout if timeout is None else timeout
        # A client's connection ends for good when its reading (and reconnecting) task does.
        end: asyncio.Future[Any] = self.client.done if self.client is not None else self._end_future()
        try:
            ns = await self._connect_waiters.wait(namespace, until=end, timeout=seconds)
        except TimeoutError:
            raise AskTimeoutError(
                f"{namespace!r} was not connected on {self.id!r} within {seconds:g}s"
            ) from None
        if ns is None:
            raise self.closed_error()
        return ns

    async def disconnect_all(self, *, timeout: float | None = None) -> None:
        """Disconnect every connected namespace (neffos ``Conn.DisconnectAll``); see `NSConn.disconnect`.

        Each namespace is tried, in order, even when one fails; the first failure is then
        raised. Nothing happens on a native-only connection, which has no namespaces to leave.
        """
        if not self._native_only:
            await disconnect_all(list(self._namespaces.values()), timeout)

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
        if self._background is None:
            self._background = Background()
        self._background.run(work, self)

    # -- closing --------------------------------------------------------------

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "", *, drain: bool = True) -> None:
        """Close with a real close frame (1000 by default) after queued frames drain.

        Within `Options.close_timeout` the queued frames drain and the peer answers the close
        frame; past it (a peer that stopped reading) the socket is cut. Either way the
        connection has ended when this returns (its teardown follows in the task serving it).
        """
        if self.writer.closing:
            await self.wait_closed()
            return
        reconnecting = self.is_reconnecting
        self.writer.closing = True
        self.closed_with = (code, reason)
        seconds = self.options.close_timeout
        drained = self._outbox.drain if drain else None
        await close_or_cut(self._socket, self._sink, drained, code, reason, seconds, self, self.id)
        self.socket_ended()
        if self.client is not None:
            await self.client.stop(now=reconnecting, timeout=seconds)

    def rebind(self, conn_id: str, socket: Socket, sink: FrameSink, tries: int) -> None:
        """Continue on a new socket after a reconnection (client side)."""
        self.id = conn_id
        self.attach(socket, sink)
        self.reconnect_tries = tries
        self._ended = False
        self._ended_future = None
        self._acked = True

    async def teardown(self) -> None:
        """Fire the forced local leave and disconnect events of every namespace (neffos Close)."""
        self.socket_ended()
        for ns in list(self._namespaces.values()):
            await ns.end_locally(forced=True)
