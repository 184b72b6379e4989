"""`Server`: accepts connections, runs the neffos handshake, broadcasts and asks."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, final

from aiohttp import WSMsgType

from . import events as ev
from .conn import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TRY_AGAIN_LATER,
    READING,
    Conn,
    Socket,
)
from .errors import REFUSALS, NoRecipientError, ServerClosedError, error_text, resolve_remote_error
from .exchange import NO_EXCLUSION, ClusterCount, Exchange, Exclusion, LocalExchange, Target
from .fanout import DONE, call_each
from .limits import OriginPolicy
from .logs import fields
from .message import Message
from .ns_conn import NSConn
from .options import Options
from .outbox import FrameSink
from .pending import PendingReply
from .presence import LocalRoster, Presence, PresenceListener
from .protocol import ACK_REQUEST, Frame, Tokens, encode, encode_fields, encode_native
from .room import Room

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger("aioneffos.server")

MAX_PRE_ACK_FRAMES = 16
"""Frames a client may send before ``M``; they are handled after the ack
(docs/protocol.md#handshake-input)."""
MAX_PRE_ACK_BYTES = 64 * 1024
"""Bytes those frames may hold in all: a peer not yet acknowledged pins little memory."""
HANDLER_WATCH_INTERVAL = 1.0
"""Seconds between looks for handlers whose peer vanished (`Options.cancel_handlers_on_close`)."""

ConnCallback = Callable[[Conn], Awaitable[None] | None]
Excluded = Conn | NSConn | Room | str | None
"""What `Server.broadcast` may skip: one connection (`Conn`/`NSConn`), or by id (`str`, `Room`)."""


async def _call(callback: Callable[..., Any], *args: Any) -> Any:
    result = callback(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


@final
class Server:
    """A neffos websocket server (neffos ``Server``); mount it with `handler`.

    *conn_handler* is a `ConnHandler` (`Namespaces`, `Events`, an MVC application) or a
    plain ``{namespace: {event: handler}}`` dict. Keyword *options* are `Options` fields.
    """

    def __init__(
        self,
        conn_handler: ev.HandlerSource,
        *,
        on_connect: ConnCallback | None = None,
        on_disconnect: ConnCallback | None = None,
        on_upgrade_error: Callable[[BaseException], None] | None = None,
        id_generator: Callable[[web.Request], Awaitable[str] | str] | None = None,
        check_origin: Callable[[web.Request], Awaitable[bool] | bool] | None = None,
        exchange: Exchange | None = None,
        **options: Any,
    ) -> None:
        self.options = Options(**options)
        self.on_connect = on_connect
        """Called with each new connection before it is acknowledged; raise to refuse it (``H<text>``)."""
        self.on_disconnect = on_disconnect
        """Called after an accepted connection has ended and its namespaces were disconnected."""
        self.on_upgrade_error = on_upgrade_error
        """Called when an HTTP request could not be upgraded to a websocket."""
        self.id_generator = id_generator
        """Makes a connection id from the upgrade request; a random UUID by default."""
        self.check_origin = check_origin
        """Decides from the upgrade request whether its page may connect (``False``: 403),
        instead of the same-origin policy and `Options.allowed_origins`; see `origin_allowed`."""
        self.origin_policy = OriginPolicy(self.options.allowed_origins)
        """The built-in policy: same origin, plus `Options.allowed_origins`."""
        self.exchange: Exchange = exchange if exchange is not None else LocalExchange()
        self.node_id = uuid.uuid4().hex
        """This server's id within a cluster."""
        self.roster = LocalRoster(
            self.node_id,
            lambda: self._conns,
            lambda conn_id: self._by_id.get(conn_id, ()),
            lambda: self.exchange,
        )
        """This node's part of cluster presence (see `presence`)."""
        self._tables = ev.compile_namespaces(conn_handler)
        self._native_only = ev.is_native_only(self._tables)
        self._serials = itertools.count(1)
        self._tokens = Tokens()
        self._conns: dict[Conn, None] = {}
        self._by_id: dict[str, list[Conn]] = {}  # ids are usually unique: a list of one is small
        self._members: dict[str, dict[NSConn, None]] = {}
        self._rooms: dict[tuple[str, str], dict[NSConn, None]] = {}
        self._started = False
        self._closed = False
        self._start_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._emptied: asyncio.Event | None = None  # set once closing and no connection is left
        self._close_done: asyncio.Event | None = None
        self._watch: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Server namespaces={list(self._tables)} connections={len(self._conns)}>"

    # -- state ----------------------------------------------------------------

    @property
    def namespaces(self) -> Collection[str]:
        """Give the names of the namespaces this server serves."""
        return self._tables.keys()

    @property
    def handlers(self) -> Mapping[str, Mapping[str, ev.Handler]]:
        """Give the handlers this server dispatches to, by namespace and event (read-only)."""
        return MappingProxyType(
            {
                name: MappingProxyType({event: entry.handler for event, entry in table.entries.items()})
                for name, table in self._tables.items()
            }
        )

    @property
    def connections(self) -> Collection[Conn]:
        """Give every live connection (a read-only view)."""
        return self._conns.keys()

    @property
    def total_connections(self) -> int:
        """Count the live connections of this process (neffos ``GetTotalConnections``)."""
        return len(self._conns)

    @property
    def ask_timeout(self) -> float:
        """Give the seconds an ask waits by default (`Options.ask_timeout`)."""
        return self.options.ask_timeout

    def connection(self, conn_id: str) -> Conn | None:
        """Give a live connection with id *conn_id*, or ``None``."""
        conns = self._by_id.get(conn_id)
        return conns[0] if conns else None

    def namespace_connections(self, namespace: str) -> Collection[NSConn]:
        """Give every connection to *namespace* (neffos ``GetConnectionsByNamespace``)."""
        return self._members.get(namespace, {}).keys()

    @property
    def accepting(self) -> bool:
        """Tell whether new connections are accepted (answers the neffos.js ``HEAD`` probe)."""
        return not self._closed

    async def origin_allowed(self, request: web.Request) -> bool:
        """Tell whether the page that sent *request* may connect: `check_origin` if given,
        else the same-origin policy with `Options.allowed_origins` (requests without
        ``Origin``, from other than browsers, pass)."""
        if self.check_origin is not None:
            return bool(await _call(self.check_origin, request))
        return self.origin_policy.allows(request.headers.get("Origin"), request.headers.get("Host"))

    def next_token(self) -> str:
        """Make a server ask token: decimal, never starting with ``$`` or ``#``
        (docs/protocol.md#ask-tokens)."""
        return self._tokens.next()

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Start the exchange; called by `setup` at app startup, or by the first connection."""
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                if self._closed:
                    raise ServerClosedError("server is closed")
                await self.exchange.start(self)
                if self.options.cancel_handlers_on_close:
                    self._watch = asyncio.get_running_loop().create_task(self._watch_handlers())
                self._started = True

    async def close(self) -> None:
        """Shut down within about `Options.close_timeout`: refuse new connections (503), send
        1001 ``server shutdown`` to every peer, then stop the exchange.

        Queued frames drain and peers answer the close within ``close_timeout``; sockets that
        did not are cut. Handlers still running at ``close_timeout`` are cancelled, so every
        connection's teardown (leave and disconnect events, ``on_disconnect``) runs before
        this returns; a teardown that itself hangs is waited for another ``close_timeout``
        at most, then left to the application's shutdown (logged).
        """
        if self._closed:
            if self._close_done is not None:
                await self._close_done.wait()
            return
        self._closed = True
        done = self._close_done = asyncio.Event()
        try:
            await self._close_all()
        finally:
            done.set()

    async def _close_all(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        seconds = self.options.close_timeout
        emptied = self._emptied = asyncio.Event()
        if not self._conns:
            emptied.set()
        closing = [
            asyncio.ensure_future(c.close(CLOSE_GOING_AWAY, "server shutdown")) for c in list(self._conns)
        ]
        # Each close ends its socket within close_timeout; the teardowns follow in the tasks
        # serving the connections, unless a handler still runs: it gets the same time.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await emptied.wait()
        left = list(self._conns)
        if left:
            for conn in left:
                conn.cancel_handler()
            try:
                async with asyncio.timeout(seconds):
                    await emptied.wait()
            except TimeoutError:
                logger.warning(
                    "server close: %d connection(s) still tearing down after %gs: %s",
                    len(self._conns),
                    2 * seconds,
                    list(self._conns)[:10],
                )
        await asyncio.gather(*closing, return_exceptions=True)
        if self._started:
            await self.exchange.stop()

    async def _watch_handlers(self) -> None:
        """Cancel the handlers of connections whose peer is gone (`Options.cancel_handlers_on_close`).

        A connection runs its handler in the task that reads it, so nothing reads while the
        handler runs; this look, once a second over the connections, notices a socket that ended.
        """
        while True:
            await asyncio.sleep(HANDLER_WATCH_INTERVAL)
            for conn in list(self._conns):
                if conn.socket_lost:
                    conn.cancel_handler()

    def new_conn(
        self,
        socket: Socket,
        sink: FrameSink,
        conn_id: str,
        *,
        request: web.Request | None = None,
        reconnect_tries: int = 0,
    ) -> Conn:
        """Make the `Conn` for an upgraded socket (used by the aiohttp glue)."""
        conn = Conn(
            conn_id,
            False,
            socket,
            self._tables,
            self.options,
            self._tokens,
            server=self,
            request=request,
            reconnect_tries=reconnect_tries,
            key=f"{self.node_id}.{next(self._serials)}",
            hub=self,
        )
        conn.attach(sink)
        return conn

    async def serve(self, conn: Conn, socket: Socket) -> None:
        """Run *conn* from handshake to teardown; returns when the connection has ended."""
        accepted = False
        try:
            accepted = await self.open(conn, socket)
            if accepted:
                await conn.read_forever()
                await conn.wait_closed()
        finally:
            await self.finish(conn, accepted)

    async def open(self, conn: Conn, socket: Socket) -> bool:
        """Register *conn* and run the handshake and on_connect; tell whether it was accepted.

        `serve` is `open`, `Conn.read_forever`, `Conn.wait_closed` and `finish`; the aiohttp
        glue calls them itself to keep one coroutine frame less per idle connection.
        """
        self._add(conn)
        if self._closed:  # upgraded while the server was closing
            await conn.close(CLOSE_GOING_AWAY, "server shutdown")
            return False
        limit = self.options.max_connections
        if limit is not None and len(self._conns) > limit:  # upgrades that raced past the 503
            await conn.close(CLOSE_TRY_AGAIN_LATER, "too many connections")
            return False
        if self._native_only:
            return await self._accept_native(conn)
        return await self._handshake(conn, socket)

    async def finish(self, conn: Conn, accepted: bool) -> None:
        """Tear *conn* down: forced disconnect events, unregister, then on_disconnect if accepted."""
        await conn.teardown()
        self._remove(conn)
        if accepted and self.on_disconnect is not None:
            try:
                await _call(self.on_disconnect, conn)
            except Exception:
                logger.exception("on_disconnect failed for %r", conn)

    async def _handshake(self, conn: Conn, socket: Socket) -> bool:
        """Wait for ``M``, run on_connect, then send ``A<id>`` or ``H<text>`` (docs/protocol.md#handshake)."""
        early: list[str | bytes] = []
        try:
            async with asyncio.timeout(self.options.handshake_timeout):
                refusal = await self._await_ack_request(socket, early)
        except TimeoutError:
            refusal = "handshake timeout"
        if refusal is not None:
            early.clear()  # nothing of an unacknowledged peer is kept while it is closed
            if refusal:
                await conn.close(CLOSE_POLICY, refusal)
            return False
        if early:
            # Handled after the ack, before anything newer, by whichever task reads first.
            conn.read_first(early)
        if not await self._run_on_connect(conn):
            return False
        conn.send_ack()
        return True

    @staticmethod
    async def _await_ack_request(socket: Socket, early: list[str | bytes]) -> str | None:
        """Read until ``M``, keeping what comes before it in *early*; give ``None`` on ``M``,
        else the reason to close with (``""`` when the socket ended)."""
        held = 0
        while True:
            raw = await socket.receive()
            if raw.type is WSMsgType.TEXT and raw.data == ACK_REQUEST:
                return None
            if raw.type is not WSMsgType.TEXT and raw.type is not WSMsgType.BINARY:
                return ""
            early.append(raw.data)
            held += len(raw.data)
            if len(early) > MAX_PRE_ACK_FRAMES or held > MAX_PRE_ACK_BYTES:
                return "expected the neffos handshake (M)"

    async def _accept_native(self, conn: Conn) -> bool:
        """Native-only mode: no handshake; namespace ``""`` is connected from the start."""
        conn.mark_acknowledged()
        conn.register(NSConn(conn, "", self._tables[""]))
        return await self._run_on_connect(conn)

    async def _run_on_connect(self, conn: Conn) -> bool:
        if self.on_connect is None:
            return True
        try:
            await _call(self.on_connect, conn)
        except Exception as exc:
            text = error_text(exc) or "connection refused"
            if isinstance(exc, REFUSALS):
                logger.info("refused %r: %s", conn, text, extra=fields(conn.id))
            else:
                logger.error("on_connect raised for %r: %s", conn, text, exc_info=exc, extra=fields(conn.id))
            if not conn.is_acknowledged:
                conn.send_frame(Frame(f"H{text}".encode(), True))
            # After the ack a refusal can only close the connection (docs/protocol.md#on-connect).
            await conn.close(CLOSE_POLICY, text)
            return False
        return True

    # -- membership (the Hub a Conn reports to) --------------------------------------------

    def _add(self, conn: Conn) -> None:
        self._conns[conn] = None
        same_id = self._by_id.get(conn.id)
        if same_id is None:
            self._by_id[conn.id] = [conn]
            self.exchange.subscribe(Target.of_conn(conn.id))
        else:
            same_id.append(conn)

    def _remove(self, conn: Conn) -> None:
        self._conns.pop(conn, None)
        if self._emptied is not None and not self._conns:
            self._emptied.set()
        same_id = self._by_id.get(conn.id)
        if same_id is not None and conn in same_id:
            same_id.remove(conn)
            if not same_id:
                del self._by_id[conn.id]
                self.exchange.unsubscribe(Target.of_conn(conn.id))

    def namespace_connected(self, ns_conn: NSConn) -> None:
        """Index *ns_conn* for delivery."""
        members = self._members.get(ns_conn.namespace)
        if members is None:
            members = self._members[ns_conn.namespace] = {}
            self.exchange.subscribe(Target.of_namespace(ns_conn.namespace))
        members[ns_conn] = None
        self.roster.changed("join", ns_conn.conn, ns_conn.namespace)

    def namespace_disconnected(self, ns_conn: NSConn) -> None:
        """Drop *ns_conn* from the delivery index."""
        members = self._members.get(ns_conn.namespace)
        if members is not None and members.pop(ns_conn, 0) is None:
            if not members:
                del self._members[ns_conn.namespace]
                self.exchange.unsubscribe(Target.of_namespace(ns_conn.namespace))
            self.roster.changed("leave", ns_conn.conn, ns_conn.namespace)

    def room_joined(self, ns_conn: NSConn, room: str) -> None:
        """Index *ns_conn* as a member of *room*."""
        members = self._rooms.get((ns_conn.namespace, room))
        if members is None:
            members = self._rooms[(ns_conn.namespace, room)] = {}
            self.exchange.subscribe(Target.of_room(ns_conn.namespace, room))
        members[ns_conn] = None
        self.roster.changed("join", ns_conn.conn, ns_conn.namespace, room)

    def room_left(self, ns_conn: NSConn, room: str) -> None:
        """Drop *ns_conn* from *room*'s members."""
        key = (ns_conn.namespace, room)
        members = self._rooms.get(key)
        if members is not None and members.pop(ns_conn, 0) is None:
            if not members:
                del self._rooms[key]
                self.exchange.unsubscribe(Target.of_room(ns_conn.namespace, room))
            self.roster.changed("leave", ns_conn.conn, ns_conn.namespace, room)

    # -- delivery -------------------------------------------------------------

    def broadcast(self, msg: Message, exclude: Excluded = None) -> None:
        """Send *msg* to every connection in its namespace (neffos ``Broadcast``).

        ``msg.room`` limits it to that room's members and ``msg.to`` to connections with
        that id. *exclude* skips one connection (a `Conn` or `NSConn`) or every connection
        with an id (a `str` or a `Room`, whose id is its connection's). The wait token is
        cleared (docs/protocol.md#broadcast-token): a broadcast is never an ask; use `ask`
        for that. The exchange forwards it to the other nodes of a cluster; raise
        `PayloadTooLargeError`, having sent it to no one, when it is too large for the broker.
        While the exchange is congested, the connection whose handler broadcast is read on
        only once there is room (backpressure); elsewhere, ``await server.drain()`` waits.
        """
        if msg.wait:
            msg = msg.evolve(wait="")
        exclusion = exclusion_of(exclude)
        exchange = self.exchange
        exchange.publish(msg, exclusion)  # first: a message refused by the bus reaches nobody
        self.deliver(msg, exclusion)
        if exchange.congested:
            conn = READING.get()
            if conn is not None:
                conn.paced = True

    async def drain(self) -> None:
        """Wait until the exchange has room for more broadcasts (at once unless it is congested,
        at most its ``wait_timeout``); for loops that broadcast many messages in one handler."""
        await self.exchange.drain()

    def deliver(self, msg: Message, exclusion: Exclusion = NO_EXCLUSION) -> int:
        """Write *msg* to this process's matching connections, encoded once; return how many."""
        frame: Frame | None = None
        count = 0
        for ns_conn in self._targets(msg):
            conn = ns_conn.conn
            if exclusion and exclusion.excludes(conn.key, conn.id):
                continue
            if frame is None:
                # Native-only peers are plain websockets: native data goes raw (docs/protocol.md#native-only).
                raw = msg.is_native and self._native_only
                frame = encode_native(msg.body, binary=msg.is_binary) if raw else encode(msg)
            if conn.send_frame(frame):
                count += 1
        return count

    def _targets(self, msg: Message) -> Iterable[NSConn]:
        if msg.to:
            targets = []
            for conn in self._by_id.get(msg.to, ()):
                ns_conn = conn.namespace(msg.namespace)
                if ns_conn is not None and (not msg.room or msg.room in ns_conn.rooms):
                    targets.append(ns_conn)
            return targets
        if msg.room:
            return list(self._rooms.get((msg.namespace, msg.room), ()))
        return list(self._members.get(msg.namespace, ()))

    async def ask(self, msg: Message, *, exclude: Excluded = None, timeout: float | None = None) -> Message:
        """Ask every matching connection (as `broadcast` picks them) and return the first reply.

        Later replies are dropped. Raise `AskTimeoutError` after *timeout* (default
        `Options.ask_timeout`), `NoRecipientError` when nothing matches, or the typed
        error of an error reply.
        """
        seconds = self.options.ask_timeout if timeout is None else timeout
        return await self.exchange.ask(msg, exclusion_of(exclude), seconds)

    async def ask_local(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask this process's matching connections; see `ask`."""
        targets = [
            n for n in self._targets(msg) if not (exclusion and exclusion.excludes(n.conn.key, n.conn.id))
        ]
        if not targets:
            raise NoRecipientError(f"no connection matches an ask of {msg.namespace!r}/{msg.event!r}")
        token = self.next_token()
        frame = encode_fields(token, msg.namespace, msg.room, msg.event, msg.body, binary=msg.is_binary)
        pending = PendingReply(asyncio.get_running_loop().create_future(), remaining=len(targets))
        for ns_conn in targets:
            ns_conn.conn.expect_reply(token, pending)
            if not ns_conn.conn.send_frame(frame, urgent=True):
                pending.connection_lost()
        try:
            reply = await targets[0].conn.await_reply(pending, msg.event, timeout)
        finally:
            for ns_conn in targets:
                ns_conn.conn.forget_reply(token)
        if reply.err is not None:
            raise resolve_remote_error(reply.err)
        return reply

    def do(self, fn: Callable[[Conn], object], *, concurrent: bool = True) -> Awaitable[None]:
        """Call *fn* with every live connection (neffos ``Server.Do``); give an awaitable of its async work.

        A plain function runs for every connection before `do` returns, as it always did.
        When *fn* is a coroutine function (or returns awaitables), their work runs in a
        task: every connection at once, or with ``concurrent=False`` one after the other
        (*fn* is called for the next connection once the previous call is done; connections
        that ended meanwhile are skipped). ``await server.do(fn)`` waits for it (neffos
        ``Do(fn, false)``); not awaiting lets it finish in the background (``Do(fn, true)``).
        A failure for one connection does not stop the others: awaiting then raises an
        `ExceptionGroup` of every failure. An exception raised by a plain *fn* propagates
        at once.
        """
        work = call_each(fn, list(self._conns), concurrent=concurrent, is_live=self._conns.__contains__)
        if work is None:
            return DONE
        task = asyncio.get_running_loop().create_task(work)
        # The loop holds tasks weakly: keep this one until it ends, awaited or not.
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- cluster-wide (through the exchange) ------------------------------------

    def close_connection(self, conn_id: str, *, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Close every connection with id *conn_id* on every node (a forced disconnect)."""
        self.close_local(conn_id, code, reason)
        self.exchange.close_connection(conn_id, code, reason)

    def close_local(self, conn_id: str, code: int = CLOSE_NORMAL, reason: str = "") -> int:
        """Close this process's connections with id *conn_id* in the background; give how many."""
        conns = list(self._by_id.get(conn_id, ()))
        for conn in conns:
            conn.fire_and_forget(functools.partial(conn.close, code, reason))
        return len(conns)

    async def cluster_total_connections(self) -> ClusterCount:
        """Count the live connections of every node (this process's count without a broker).

        The result is an `int` that also says whether it is current (`ClusterCount.stale`,
        ``.age``, ``.missing``); it never waits longer than the exchange's ``count_timeout``.
        """
        return await self.exchange.count_connections()

    async def presence(self, namespace: str, room: str | None = None) -> Presence:
        """Give the connections to *namespace* (or to its *room*) on every node, with their node
        and per-room counts, from what this node knows (`Presence.stale` when that may be late)."""
        remote = await self.exchange.roster(namespace)
        return Presence.of(namespace, room, [*self.roster.seats(), *remote.seats], stale=remote.stale)

    def add_presence_listener(self, listener: PresenceListener) -> None:
        """Tell *listener* every join and leave of a namespace or room, on every node (`PresenceEvent`)."""
        self.roster.add_listener(listener)

    async def join_room(
        self, conn_id: str, namespace: str, room: str, *, timeout: float | None = None
    ) -> int:
        """Make the connections with id *conn_id* in *namespace* join *room*, on whichever node they
        are; give how many. Raise `NoRecipientError` when there is none, or a connection's refusal."""
        return await self._change_room(conn_id, namespace, room, True, timeout)

    async def leave_room(
        self, conn_id: str, namespace: str, room: str, *, timeout: float | None = None
    ) -> int:
        """Make the connections with id *conn_id* in *namespace* leave *room*, on whichever node they
        are; give how many were in it (0 is no error)."""
        return await self._change_room(conn_id, namespace, room, False, timeout)

    async def _change_room(
        self, conn_id: str, namespace: str, room: str, join: bool, timeout: float | None
    ) -> int:
        seconds = self.options.ask_timeout if timeout is None else timeout
        change = self.roster.join_local if join else self.roster.leave_local
        local = await change(conn_id, namespace, room, seconds)
        remote = await self.exchange.change_room(conn_id, namespace, room, join=join, timeout=seconds)
        if join and not local + remote:
            raise NoRecipientError(f"no connection {conn_id!r} in namespace {namespace!r} on any node")
        return local + remote


def get_server(conn: Conn) -> Server:
    """Give the server that accepted *conn* (neffos ``Conn.Server()``), never ``None``.

    Raise `TypeError` for a client-side connection, which has no server.
    """
    server = conn.server
    if server is None:
        raise TypeError(f"{conn!r} has no server: it is a client-side connection")
    return server


def exclusion_of(exclude: Excluded) -> Exclusion:
    """Turn what `Server.broadcast` accepts as *exclude* into an `Exclusion`."""
    if exclude is None:
        return NO_EXCLUSION
    if isinstance(exclude, str):
        return Exclusion(conn_id=exclude)
    if isinstance(exclude, Room):
        return Exclusion(conn_id=exclude.ns_conn.conn.id)
    conn = exclude.conn if isinstance(exclude, NSConn) else exclude
    return Exclusion(conn_key=conn.key)
