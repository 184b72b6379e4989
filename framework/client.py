"""The Python client: `dial` a neffos server (ours or Go's), with optional reconnection.

This is also the aiohttp client-side transport: `_ClientSocket` and `_ClientSink` adapt
aiohttp's client websocket to the `Socket`/`FrameSink` seam (aiohttp masks the frames).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import aiohttp
from aiohttp import WSMsgType

from .conn import Conn
from .errors import ConnectionRefusedByPeerError, HandshakeError, ReconnectingError
from .handlers import HandlerSource, compile_namespaces
from .handshake import request_ack
from .logs import fields
from .ns_conn import NSConn
from .options import Options
from .protocol import RECONNECT_HEADER, CloseCode, Frame, Tokens
from .room import Room
from .routing import route
from .tables import NamespaceTable, is_native_only
from .transport import FrameSink, Socket

logger = logging.getLogger("aioneffos.client")

MAX_RECONNECT_DELAY = 30.0
_HAS_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")


class _ClientSocket:
    """aiohttp's client websocket as a `Socket`: data frames as ``str``/``bytes``, the end as ``None``.

    Once our close has started, the reading task gets ``None`` only when it has finished (the
    server's close frame came, or `close_or_cut` gave up): aiohttp breaks a waiting ``receive``
    at once, and a later one would start a close of its own that ours does not wait for; the
    reading task would then end the connection, and `dial` close its session's transport,
    under the close handshake (the server saw 1006 when frames to us were still in flight).
    """

    __slots__ = ("_closing", "_receive", "_ws")

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._receive = ws.receive
        self._closing: asyncio.Future[None] | None = None

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        if self._closing is None:
            msg = await self._receive(timeout)
            kind = msg.type
            if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
                data: str | bytes = msg.data
                return data
            if kind is WSMsgType.ERROR:
                logger.info("socket error: %s", msg.data)
        closing = self._closing
        if closing is not None:
            await asyncio.shield(closing)  # bounded: `close_or_cut` cancels a close past its time
        return None

    async def close(self, *, code: int = CloseCode.NORMAL, message: bytes = b"") -> bool:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
        try:
            return await self._ws.close(code=code, message=message)
        finally:
            if not self._closing.done():
                self._closing.set_result(None)

    @property
    def close_code(self) -> int | None:
        return self._ws.close_code


class _ClientSink:
    """Writes through aiohttp's client writer, which masks frames as RFC 6455 requires."""

    __slots__ = ("_transport", "_ws")

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        # aiohttp gives a client websocket no way to cut its socket; its response's
        # connection holds the transport (and forgets it once closing starts).
        connection = ws._response.connection
        self._transport = connection.transport if connection is not None else None

    def write_now(self, frame: Frame) -> bool:
        return False

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    @property
    def lost(self) -> bool:
        return self._ws.closed or self._transport is None or self._transport.is_closing()

    async def write(self, frame: Frame) -> None:
        await self._ws.send_frame(frame.payload, WSMsgType.TEXT if frame.text else WSMsgType.BINARY)


class _ClientSide:
    """What `dial` keeps for a client connection (its `ClientSide`): the task that reads and
    reconnects it and, with ``reconnect=``, the handles a dropped socket had, to restore them
    on the same objects (each live `NSConn` with its `Room`s, in the order joined)."""

    __slots__ = ("_entries", "_reconnect", "_task")

    def __init__(self, *, reconnect: bool) -> None:
        self._reconnect = reconnect
        self._entries: dict[str, tuple[NSConn, dict[str, Room]]] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run *work*, the reading (and reconnecting) loop, for as long as the connection lives."""
        self._task = asyncio.get_running_loop().create_task(work)

    @property
    def done(self) -> asyncio.Future[Any]:
        assert self._task is not None
        return self._task

    async def stop(self, *, now: bool, timeout: float) -> None:
        task = self._task
        if task is not None and task is not asyncio.current_task():
            if now:
                task.cancel()  # it may be waiting for its next dial: stop now
            await asyncio.wait([task], timeout=timeout)

    @property
    def reconnecting(self) -> bool:
        return self._entries is not None

    def remember(self, namespaces: Mapping[str, NSConn]) -> None:
        if not self._reconnect:
            return
        entries = self._entries if self._entries is not None else {}
        for name, ns in namespaces.items():
            entry = entries.setdefault(name, (ns, {}))
            if entry[0] is ns:
                entry[1].update(ns.rooms)
        self._entries = entries

    def will_restore(self, ns: NSConn, room: str = "") -> bool:
        entry = self._entries.get(ns.namespace) if self._entries is not None else None
        return entry is not None and entry[0] is ns and (not room or room in entry[1])

    def forget(self, ns: NSConn, room: str = "") -> None:
        entries = self._entries
        entry = entries.get(ns.namespace) if entries is not None else None
        if entries is None or entry is None or entry[0] is not ns:
            return
        if room:
            entry[1].pop(room, None)
        else:
            del entries[ns.namespace]

    def pending(self) -> list[tuple[NSConn, list[Room]]]:
        """Give the namespaces (and rooms) to restore on the new socket, in the order joined."""
        return [(ns, list(rooms.values())) for ns, rooms in (self._entries or {}).values()]

    def restored(self) -> None:
        """Stop reconnecting: every handle is restored, or the client gave up."""
        self._entries = None


Opener = Callable[[int], Awaitable[tuple[Socket, FrameSink, str]]]
"""Opens one socket to a server and does the handshake (`handshake`): given the attempt
(0 for the first dial), gives the socket's two halves and the connection id the server gave."""


async def handshake(socket: Socket, sink: FrameSink, options: Options, *, native_only: bool) -> str:
    """Do the client's handshake on a new socket and give the connection id (``""`` without
    one: a native-only client sends no ``M``, as neffos's, and talks to any websocket server)."""
    if native_only:
        return ""
    return await request_ack(socket, sink, options.handshake_timeout)


class _Dialer:
    """Opens sockets for one client connection and, with *reconnect*, reopens them."""

    def __init__(
        self,
        open_socket: Opener,
        tables: dict[str, NamespaceTable],
        reconnect: float | None,
        options: Options,
        on_end: Callable[[], Awaitable[None]] | None,
    ) -> None:
        self.open = open_socket
        self.tables = tables
        self.reconnect = reconnect
        self.options = options
        self.on_end = on_end
        self.tokens = Tokens("$")
        self.native_only = is_native_only(tables)
        """Whether the only handler is ``_OnNativeMessage``: a plain websocket, no handshake."""
        self.client = _ClientSide(reconnect=reconnect is not None)

    async def run(self, conn: Conn) -> None:
        """Read until the socket ends; then reconnect, if asked to, or finish."""
        try:
            while True:
                await conn.inbound.run()
                await conn.wait_closed()
                # With reconnect, the conn remembered its live namespaces and rooms when the
                # socket ended; the forced disconnect events fire now, with is_reconnecting set.
                await conn.teardown()
                if not conn.is_reconnecting or not await self._reopen(conn):
                    return
                await self._restore(conn)
        finally:
            self.client.restored()
            if self.on_end is not None:
                await self.on_end()

    async def _reopen(self, conn: Conn) -> bool:
        assert self.reconnect is not None
        delay = self.reconnect
        tries = conn.reconnect_tries
        while not conn.closed_by_us:
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            tries += 1
            try:
                socket, sink, conn_id = await self.open(tries)
            except ConnectionRefusedByPeerError as exc:
                logger.warning("reconnect refused by the server, giving up: %s", exc, extra=fields(conn.id))
                return False
            except (aiohttp.ClientError, HandshakeError, OSError, TimeoutError) as exc:  # OSError: refused
                logger.info("reconnect attempt %d failed: %s", tries, exc, extra=fields(conn.id))
                delay = min(delay * 2, MAX_RECONNECT_DELAY)
                continue
            if not conn.is_reconnecting:  # closed while dialling: do not come back to life
                await socket.close()
                return False
            conn.rebind(conn_id, socket, sink, tries)
            logger.info("reconnected as %r after %d attempt(s)", conn_id, tries, extra=fields(conn_id))
            return True
        return False

    async def _restore(self, conn: Conn) -> None:
        """Reconnect the namespaces and rooms we had, reusing the same `NSConn` and `Room` objects."""
        restore = self.client
        for ns, rooms in restore.pending():
            if conn.closed_by_us or not restore.will_restore(ns):
                continue  # the program disconnected it meanwhile
            if self.native_only:
                conn.register(ns)  # namespace "" is connected from the start, nothing to ask
                continue
            try:
                await ns.open()
                for room in rooms:
                    if not conn.closed_by_us and restore.will_restore(ns, room.name):
                        await ns.restore_room(room)
            except ReconnectingError:
                return  # dropped again: the next round restores what is left
            except Exception as exc:
                logger.warning(
                    "could not restore namespace %r after reconnecting: %s",
                    ns.namespace,
                    exc,
                    extra=fields(conn.id, ns.namespace),
                )
            restore.forget(ns)
        restore.restored()


async def open_client(
    open_socket: Opener,
    tables: dict[str, NamespaceTable],
    options: Options,
    *,
    reconnect: float | None = None,
    on_end: Callable[[], Awaitable[None]] | None = None,
) -> Conn:
    """Dial with *open_socket* (any transport) and give the acknowledged client `Conn`: what
    `dial` does over aiohttp, and `memory.dial_memory` in memory. *on_end* runs once the
    connection has ended for good."""
    dialer = _Dialer(open_socket, tables, reconnect, options, on_end)
    try:
        socket, sink, conn_id = await open_socket(0)
    except BaseException:
        if on_end is not None:
            await on_end()
        raise
    conn = Conn(conn_id, True, tables, options, dialer.tokens, route, client=dialer.client)
    conn.attach(socket, sink)
    conn.mark_acknowledged()
    if dialer.native_only:
        conn.register(NSConn(conn, "", tables[""]))
    dialer.client.start(dialer.run(conn))
    return conn


async def dial(
    url: str,
    namespaces: HandlerSource,
    *,
    headers: Mapping[str, str] | None = None,
    reconnect: float | None = None,
    session: aiohttp.ClientSession | None = None,
    **options: Any,
) -> Conn:
    """Connect to the neffos server at *url* and return the acknowledged client `Conn`.

    *url* without a scheme gets ``ws://`` (``"localhost:8080/echo"``, as neffos ``Dial``).
    *namespaces* are the client's handlers (``{namespace: {event: handler}}``); connect
    to one with ``await conn.connect(name)``. Handlers exactly ``{"": {"_OnNativeMessage":
    h}}`` make a native-only client: no handshake (any websocket server will do), namespace
    ``""`` is connected at once, and every frame goes to *h*. With *reconnect* (seconds), a dropped
    connection is dialled again with growing delays, and its namespaces and rooms are
    restored on the same `NSConn` objects. Keyword *options* are `Options` fields.
    Raise `ConnectionRefusedByPeerError` with the server's text on refusal, or
    `HandshakeError`/`aiohttp.ClientError` when the server cannot be reached.
    """
    if not _HAS_SCHEME.match(url):
        url = "ws://" + url
    tables = compile_namespaces(namespaces)
    settings = Options(**options)
    native_only = is_native_only(tables)
    client_session = session or aiohttp.ClientSession()
    base_headers = dict(headers or {})

    async def open_socket(tries: int) -> tuple[Socket, FrameSink, str]:
        sent = {**base_headers, RECONNECT_HEADER: str(tries)} if tries else base_headers
        ws = await client_session.ws_connect(
            url,
            headers=sent,
            max_msg_size=settings.max_message_size + 1,  # aiohttp's limit is exclusive
            heartbeat=settings.ping_interval,
        )
        socket, sink = _ClientSocket(ws), _ClientSink(ws)
        return socket, sink, await handshake(socket, sink, settings, native_only=native_only)

    on_end = client_session.close if session is None else None
    return await open_client(open_socket, tables, settings, reconnect=reconnect, on_end=on_end)
