"""`Server`: accepts connections, runs the neffos handshake, broadcasts and asks."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, final

import attrs

from .background import Background
from .conn import Conn
from .delivery import ask_each, deliver, exclusion_of
from .errors import NoRecipientError, ServerClosedError
from .exchange import NO_EXCLUSION, ClusterCount, Exchange, Exclusion, LocalExchange
from .fanout import DONE, call_each
from .handlers import Handler, HandlerSource, compile_namespaces
from .handshake import accept, accept_native, run_callback
from .inbound import READING
from .limits import OriginPolicy
from .membership import Membership
from .message import Message
from .ns_conn import NSConn
from .observer import Observer
from .options import Options
from .presence import LocalRoster, Presence, PresenceListener
from .protocol import SERVER_SHUTDOWN, TOO_MANY_CONNECTIONS, CloseCode, Tokens
from .room import Room
from .routing import route
from .seams import Router
from .shutdown import close_all, watch_handlers
from .tables import is_native_only
from .transport import FrameSink, Socket

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger("aioneffos.server")


ConnCallback = Callable[[Conn], Awaitable[None] | None]
Excluded = Conn | NSConn | Room | str | None
"""What `Server.broadcast` may skip: one connection (`Conn`/`NSConn`), or by id (`str`, `Room`)."""


@final
class Server:
    """A neffos websocket server (neffos ``Server``); mount it with `handler`.

    *conn_handler* is a `ConnHandler` (`Namespaces`, `Events`, an MVC application) or a
    plain ``{namespace: {event: handler}}`` dict. Keyword *options* are `Options` fields.
    """

    def __init__(
        self,
        conn_handler: HandlerSource,
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
            lambda conn_id: self._index.with_id(conn_id),
            lambda: self.exchange,
        )
        """This node's part of cluster presence (see `presence`)."""
        self.observer: Observer | None = None
        """What is told of this server's work (`observe`); ``None`` by default."""
        self._tables = compile_namespaces(conn_handler)
        self._route: Router[Conn] = route
        self._native_only = is_native_only(self._tables)
        self._serials = itertools.count(1)
        self._tokens = Tokens()
        self._index = Membership(self.exchange, self.roster)
        self._conns = self._index.conns  # the live connections, kept by the index
        self._started = False
        self._closed = False
        self._start_lock = asyncio.Lock()
        self._background = Background()  # the work of `do` not awaited
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
    def handlers(self) -> Mapping[str, Mapping[str, Handler]]:
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
    def rooms(self) -> Mapping[tuple[str, str], Collection[NSConn]]:
        """Give every room with members in this process, by namespace and room name: its
        members (a read-only view)."""
        return MappingProxyType(self._index.rooms)

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
        return self._index.connection(conn_id)

    def namespace_connections(self, namespace: str) -> Collection[NSConn]:
        """Give every connection to *namespace* (neffos ``GetConnectionsByNamespace``)."""
        return self._index.namespace_connections(namespace)

    @property
    def accepting(self) -> bool:
        """Tell whether new connections are accepted (answers the neffos.js ``HEAD`` probe)."""
        return not self._closed

    async def origin_allowed(self, request: web.Request) -> bool:
        """Tell whether the page that sent *request* may connect: `check_origin` if given,
        else the same-origin policy with `Options.allowed_origins` (requests without
        ``Origin``, from other than browsers, pass)."""
        if self.check_origin is not None:
            return bool(await run_callback(self.check_origin, request))
        return self.origin_policy.allows(request.headers.get("Origin"), request.headers.get("Host"))

    def observe(self, observer: Observer) -> None:
        """Tell *observer* what this server does from now on (see `Observer`): connections
        opening and closing, messages routed, sent and asked.

        Raise `RuntimeError` when the server has an observer already, or has connections
        (observe it before it serves, so that every connection is seen whole).
        """
        if self.observer is not None:
            raise RuntimeError(f"{self!r} has an observer already: {self.observer!r}")
        if self._conns:
            raise RuntimeError(f"observe {self!r} before it has connections")
        self.observer = observer
        for name, table in self._tables.items():  # the same dict every connection reads
            self._tables[name] = attrs.evolve(table, observer=observer)
        routed = observer.routed

        def observed(conn: Conn, msg: Message) -> Awaitable[object] | None:
            return routed(conn, msg, route(conn, msg))

        self._route = observed

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
                    self._watch = asyncio.get_running_loop().create_task(watch_handlers(self._conns))
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
        emptied = self._emptied = asyncio.Event()
        if not self._conns:
            emptied.set()
        await close_all(self._conns, emptied, self.options.close_timeout)
        if self._started:
            await self.exchange.stop()

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
            self._tables,
            self.options,
            self._tokens,
            self._route,
            hub=self,
            request=request,
            reconnect_tries=reconnect_tries,
            key=f"{self.node_id}.{next(self._serials)}",
        )
        conn.attach(socket, sink)
        return conn

    async def serve(self, conn: Conn, socket: Socket) -> None:
        """Run *conn* from handshake to teardown; returns when the connection has ended."""
        accepted = False
        try:
            accepted = await self.open(conn, socket)
            if accepted:
                await conn.inbound.run()
                await conn.wait_closed()
        finally:
            await self.finish(conn, accepted)

    async def open(self, conn: Conn, socket: Socket) -> bool:
        """Register *conn* and run the handshake and on_connect; tell whether it was accepted.

        `serve` is `open`, `conn.inbound.run()`, `Conn.wait_closed` and `finish`; the aiohttp
        glue calls them itself to keep one coroutine frame less per idle connection.
        """
        self._add(conn)
        if self.observer is not None:
            self.observer.opened(conn)
        if self._closed:  # upgraded while the server was closing
            await conn.close(CloseCode.GOING_AWAY, SERVER_SHUTDOWN)
            return False
        limit = self.options.max_connections
        if limit is not None and len(self._conns) > limit:  # upgrades that raced past the 503
            await conn.close(CloseCode.TRY_AGAIN_LATER, TOO_MANY_CONNECTIONS)
            return False
        if self._native_only:
            return await accept_native(conn, self._tables[""], self.on_connect)
        return await accept(conn, socket, self.on_connect, self.options.handshake_timeout)

    async def finish(self, conn: Conn, accepted: bool) -> None:
        """Tear *conn* down: forced disconnect events, unregister, then on_disconnect if accepted."""
        await conn.teardown()
        self._remove(conn)
        if self.observer is not None:
            self.observer.closed(conn, accepted)
        if accepted and self.on_disconnect is not None:
            try:
                await run_callback(self.on_disconnect, conn)
            except Exception:
                logger.exception("on_disconnect failed for %r", conn)

    # -- membership (the Hub a Conn reports to) --------------------------------------------

    def _add(self, conn: Conn) -> None:
        self._index.add(conn)

    def _remove(self, conn: Conn) -> None:
        self._index.remove(conn)
        if self._emptied is not None and not self._conns:
            self._emptied.set()

    def namespace_connected(self, ns_conn: NSConn) -> None:
        """Index *ns_conn* for delivery."""
        self._index.namespace_connected(ns_conn)

    def namespace_disconnected(self, ns_conn: NSConn) -> None:
        """Drop *ns_conn* from the delivery index."""
        self._index.namespace_disconnected(ns_conn)

    def room_joined(self, ns_conn: NSConn, room: str) -> None:
        """Index *ns_conn* as a member of *room*."""
        self._index.room_joined(ns_conn, room)

    def room_left(self, ns_conn: NSConn, room: str) -> None:
        """Drop *ns_conn* from *room*'s members."""
        self._index.room_left(ns_conn, room)

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
            reading = READING.get()
            if reading is not None:
                reading.paced = True

    async def drain(self) -> None:
        """Wait until the exchange has room for more broadcasts (at once unless it is congested,
        at most its ``wait_timeout``); for loops that broadcast many messages in one handler."""
        await self.exchange.drain()

    def deliver(self, msg: Message, exclusion: Exclusion = NO_EXCLUSION) -> int:
        """Write *msg* to this process's matching connections, encoded once; return how many."""
        count = deliver(self._index.targets(msg), msg, exclusion, raw_native=self._native_only)
        if count and self.observer is not None:
            self.observer.sent(msg.namespace, msg.event, count)
        return count

    async def ask(self, msg: Message, *, exclude: Excluded = None, timeout: float | None = None) -> Message:
        """Ask every matching connection (as `broadcast` picks them) and return the first reply.

        Later replies are dropped. Raise `AskTimeoutError` after *timeout* (default
        `Options.ask_timeout`), `NoRecipientError` when nothing matches, or the typed
        error of an error reply.
        """
        seconds = self.options.ask_timeout if timeout is None else timeout
        reply = self.exchange.ask(msg, exclusion_of(exclude), seconds)
        return await (reply if self.observer is None else self.observer.asking(msg, reply))

    async def ask_local(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask this process's matching connections; see `ask`."""
        targets = [
            n
            for n in self._index.targets(msg)
            if not (exclusion and exclusion.excludes(n.conn.key, n.conn.id))
        ]
        if not targets:
            raise NoRecipientError(f"no connection matches an ask of {msg.namespace!r}/{msg.event!r}")
        if self.observer is not None:
            self.observer.sent(msg.namespace, msg.event, len(targets))
        return await ask_each(targets, self.next_token(), msg, timeout)

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
        self._background.keep(task)  # the loop holds tasks weakly: until it ends, awaited or not
        return task

    # -- cluster-wide (through the exchange) ------------------------------------

    def close_connection(self, conn_id: str, *, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close every connection with id *conn_id* on every node (a forced disconnect)."""
        self.close_local(conn_id, code, reason)
        self.exchange.close_connection(conn_id, code, reason)

    def close_local(self, conn_id: str, code: int = CloseCode.NORMAL, reason: str = "") -> int:
        """Close this process's connections with id *conn_id* in the background; give how many."""
        conns = self._index.with_id(conn_id)
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
    hub = conn.hub
    if not isinstance(hub, Server):
        raise TypeError(f"{conn!r} has no server: it is a client-side connection")
    return hub
