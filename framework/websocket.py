"""aiohttp glue: mount a `Server` on a route, reach the upgrade request, shut down cleanly.

The HTTP phase is answered here, before any websocket exists: ``HEAD`` (neffos.js's
reconnect probe), a request that is no upgrade (426), a server that is closed or full
(503), a page of another origin (403). After the upgrade this is the server-side
transport: `_ServerSocket` and `_ServerSink` adapt aiohttp's websocket to the
`Socket`/`FrameSink` seam, and `server_frame` makes the RFC 6455 frames a server writes.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import reprlib
import struct
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import WSMessage, WSMsgType, web
from multidict import CIMultiDict

from .conn import Conn
from .errors import UpgradeRefusedError
from .protocol import HEADER_PARAM_PREFIX, RECONNECT_HEADER, SERVER_SHUTDOWN, CloseCode, Frame
from .server import Server

logger = logging.getLogger("aioneffos.server")

SERVER_KEY = web.AppKey("aioneffos.server", Server)
"""Where `setup` keeps the server on the aiohttp application."""

PROTECTED_HEADERS = frozenset(
    {"origin", "host", "cookie", "authorization", "proxy-authorization", "forwarded", "x-real-ip"}
)
"""Headers a query parameter never supplies: the browser, the client's network or a proxy
sets them, and checks rely on them (also every ``X-Forwarded-*`` and ``Sec-WebSocket-*``)."""
_PROTECTED_PREFIXES = ("x-forwarded-", "sec-websocket-")
NOT_AN_UPGRADE = (
    "This URL is a websocket endpoint: connect to it with a neffos client "
    "(neffos.js in a page, or aioneffos's dial), not by opening it in a browser.\n"
)
"""The text of the 426 answer to a plain request (a browser tab) on the websocket route."""

IdGenerator = Callable[[web.Request], Awaitable[str] | str]
MAX_ID_BYTES = 256
"""The longest connection id, in UTF-8 bytes (docs/protocol.md#connection-ids)."""

_for_logs = reprlib.Repr()
_for_logs.maxstring = 80  # an id in a log line: escaped by repr, long ones shortened


_SHORT_TEXT = [bytes((0x81, n)) for n in range(126)]
_SHORT_BINARY = [bytes((0x82, n)) for n in range(126)]
"""Prebuilt headers of the short frames (payload under 126 bytes) a server writes."""


def server_frame(frame: Frame) -> bytes:
    """Give the complete unmasked websocket frame (header and payload) a server writes for
    *frame*, made once and kept in ``frame.wire`` for every recipient of a broadcast."""
    wire = frame.wire
    if wire is None:
        payload = frame.payload
        n = len(payload)
        if n < 126:
            header = (_SHORT_TEXT if frame.text else _SHORT_BINARY)[n]
        elif n < 65536:
            header = struct.pack("!BBH", 0x81 if frame.text else 0x82, 126, n)
        else:
            header = struct.pack("!BBQ", 0x81 if frame.text else 0x82, 127, n)
        wire = frame.wire = header + payload
    return wire


_DATA_KINDS = (WSMsgType.TEXT, WSMsgType.BINARY)


class _ServerSocket:
    """aiohttp's server websocket as the `Socket` and the `FrameSink` of one connection (one
    object for both halves: one object less per connection).

    Reading: data frames as ``str``/``bytes``, the end as ``None``; the inbound loop awaits
    aiohttp's ``receive`` itself (`DirectSocket`: one coroutine less per message and per idle
    connection). Writing: pre-framed bytes straight to the transport, waiting for drain when
    it is full. That relies on two private members of aiohttp's ``BaseProtocol``,
    ``writing_paused`` and ``_drain_helper()`` (the way aiohttp's own websocket writer
    waits), as of aiohttp 3.14; ``test_server_sink_finds_the_aiohttp_internals_it_relies_on``
    fails first if a release drops them.
    """

    __slots__ = ("_error_code", "_protocol", "_transport", "_ws")

    data_kinds = _DATA_KINDS

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("connection lost during upgrade")
        self._ws = ws
        self._error_code: int | None = None
        self._transport = transport
        self._protocol = request.protocol

    def receive_message(self, timeout: float | None = None) -> Awaitable[WSMessage]:
        return self._ws.receive(timeout)

    def end_of(self, msg: WSMessage) -> None:
        if msg.type is WSMsgType.ERROR:
            logger.info("socket error: %s", msg.data)
            # aiohttp closed the socket with the error's code (1009 past max_msg_size), but its
            # close_code ends as 1006: the peer's answer to a broken stream is never read.
            self._error_code = getattr(msg.data, "code", None)

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        msg = await self._ws.receive(timeout)
        if msg.type in _DATA_KINDS:
            data: str | bytes = msg.data
            return data
        self.end_of(msg)
        return None

    async def close(self, *, code: int = CloseCode.NORMAL, message: bytes = b"") -> bool:
        return await self._ws.close(code=code, message=message)

    @property
    def close_code(self) -> int | None:
        return self._error_code if self._error_code is not None else self._ws.close_code

    def write_now(self, frame: Frame) -> bool:
        if self._protocol.writing_paused or self._transport.is_closing():
            return False
        wire = frame.wire
        if wire is None:
            # `server_frame`, inlined for the short frames (most replies): a call less per reply.
            payload = frame.payload
            n = len(payload)
            if n < 126:
                wire = frame.wire = (_SHORT_TEXT if frame.text else _SHORT_BINARY)[n] + payload
            else:
                wire = server_frame(frame)
        self._transport.write(wire)
        return True

    def abort(self) -> None:
        self._transport.abort()

    @property
    def lost(self) -> bool:
        return self._transport.is_closing()

    def end(self, grace: float) -> None:
        """Called when the connection is over: if what it was sent is still unsent, give the
        peer *grace* seconds to read it, then cut the socket (a graceful close waits for a
        peer that does not read for as long as it keeps TCP open, holding the fd)."""
        if self._transport.get_write_buffer_size():
            asyncio.get_running_loop().call_later(grace, self._cut_if_unsent)

    def _cut_if_unsent(self) -> None:
        if self._transport.get_write_buffer_size():
            logger.info(
                "cut a closed connection whose peer did not read its last %d bytes",
                self._transport.get_write_buffer_size(),
            )
            self._transport.abort()

    async def write(self, frame: Frame) -> None:
        # aiohttp's own writer waits for drain the same way (BaseProtocol._drain_helper).
        await self._protocol._drain_helper()
        if self._transport.is_closing():
            raise ConnectionResetError("socket is closing")
        self._transport.write(server_frame(frame))


def get_request(conn: Conn) -> web.Request:
    """Give the upgrade request of a server-side connection (Iris ``websocket.GetContext``).

    Headers sent as ``X-Websocket-Header-*`` query parameters are included when the request
    lacks them and they are not `PROTECTED_HEADERS`. Raise `TypeError` for a client-side
    connection, which has none.
    """
    if conn.request is None:
        raise TypeError(f"{conn!r} has no upgrade request: it is not a server-side connection")
    return conn.request


def _protected(name: str) -> bool:
    lowered = name.lower()
    return lowered in PROTECTED_HEADERS or lowered.startswith(_PROTECTED_PREFIXES)


def with_header_params(request: web.Request) -> web.Request:
    """Add ``X-Websocket-Header-X-Name=value`` query parameters as headers (browsers cannot
    set websocket headers; neffos.js sends them this way).

    A parameter only adds a header the request lacks, and never one of `PROTECTED_HEADERS`:
    a query string must not stand in for the real ``Origin``, ``Cookie`` or client address.
    """
    extra = [
        (key[len(HEADER_PARAM_PREFIX) :], value)
        for key, value in request.query.items()
        if key.lower().startswith(HEADER_PARAM_PREFIX) and len(key) > len(HEADER_PARAM_PREFIX)
    ]
    if not extra:
        return request
    headers = CIMultiDict(request.headers)
    for name, value in extra:
        if _protected(name):
            logger.debug("ignored query parameter for protected header %r", name)
            continue
        headers.setdefault(name, value)
    return request.clone(headers=headers)


def reconnect_tries(request: web.Request) -> int:
    """Give the client's reconnection attempt from its ``X-Websocket-Reconnect`` header (0 if none)."""
    try:
        return max(0, int(request.headers.get(RECONNECT_HEADER, "0")))
    except ValueError:
        return 0


def id_fault(conn_id: str) -> str | None:
    """Say why *conn_id* cannot be a connection id, or give ``None`` when it can.

    An id is 1 to `MAX_ID_BYTES` UTF-8 bytes of printable characters (`str.isprintable`): no
    control, format or line-separator character, which could forge a log line or a page
    that shows the id, and no undecodable byte of a header (docs/protocol.md#connection-ids).
    """
    if not conn_id:
        return "it is empty"
    if len(conn_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"it is longer than {MAX_ID_BYTES} bytes"
    if not conn_id.isprintable():
        bad = next(char for char in conn_id if not char.isprintable())
        return f"it holds U+{ord(bad):04X}, which is not a printable character"
    return None


async def make_id(generator: IdGenerator | None, request: web.Request) -> str:
    """Make the id of a new connection with *generator* (a random UUID without one).

    Raise `UpgradeRefusedError` (400, logged at INFO with the id escaped) when the id is
    invalid (`id_fault`): it comes from the request, and a client must not choose an id that
    forges log lines. Raise `TypeError` when *generator* gives no `str` at all.
    """
    if generator is None:
        return str(uuid.uuid4())
    conn_id = generator(request)
    if inspect.isawaitable(conn_id):
        conn_id = await conn_id
    if not isinstance(conn_id, str):
        raise TypeError(f"id_generator must return a str, got {conn_id!r}")
    fault = id_fault(conn_id)
    if fault is not None:
        logger.info(
            "refused an upgrade from %s: invalid connection id %s: %s",
            request.remote,
            _for_logs.repr(conn_id),
            fault,
        )
        raise UpgradeRefusedError(f"invalid connection id: {fault}", status=400)
    return conn_id


async def admit(
    server: Server, request: web.Request, id_generator: IdGenerator | None = None
) -> tuple[web.Request, str]:
    """Admit an upgrade request to *server*; give the request as handlers see it and the new id.

    Refused with `UpgradeRefusedError`: a closed server (503 ``websocket server is closed``),
    one at `Options.max_connections` (503 ``too many connections``), a page whose origin
    `Server.origin_allowed` refuses (403 ``origin not allowed``), an invalid id (400, see
    `make_id`). Otherwise the server is started, ``X-Websocket-Header-*`` query parameters
    become headers (`with_header_params`) and the id is made by *id_generator*, else
    ``server.id_generator`` (`make_id`).
    """
    if not server.accepting:
        raise UpgradeRefusedError("websocket server is closed", status=503)
    limit = server.options.max_connections
    if limit is not None and server.total_connections >= limit:
        raise UpgradeRefusedError("too many connections", status=503)
    if not await server.origin_allowed(request):
        logger.info(
            "refused an upgrade from origin %r (Host %r)",
            request.headers.get("Origin"),
            request.headers.get("Host"),
        )
        raise UpgradeRefusedError("origin not allowed", status=403)
    await server.start()
    request = with_header_params(request)
    return request, await make_id(id_generator or server.id_generator, request)


def handler(
    server: Server, id_generator: IdGenerator | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Make the aiohttp handler that upgrades requests and serves them with *server*.

    Mount it with ``app.router.add_get(path, handler(server))``. *id_generator* (sync
    or async, given the request) overrides ``server.id_generator``; raising an
    `aiohttp.web.HTTPException` from it refuses the upgrade with that response, which
    also stops neffos.js from reconnecting. ``HEAD`` (neffos.js's reconnect probe) gets
    204 while the server accepts connections, 503 once it is closed. Before the upgrade:
    a request that is no websocket upgrade (a browser tab) gets 426 with a short text; the
    refusals of `admit` (a closed or full server 503, another origin 403, an invalid
    connection id 400) are answered with their status and text.
    """

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method == "HEAD":
            return web.Response(status=204 if server.accepting else 503)
        if server.accepting and request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=426, text=NOT_AN_UPGRADE, headers={"Upgrade": "websocket"})
        try:
            request, conn_id = await admit(server, request, id_generator)
        except UpgradeRefusedError as refused:
            return web.Response(status=refused.status, text=str(refused))
        options = server.options
        ws = web.WebSocketResponse(
            compress=False,
            # aiohttp refuses a message of exactly max_msg_size; ours is the largest allowed.
            max_msg_size=options.max_message_size + 1,
            heartbeat=options.ping_interval,
            timeout=options.close_timeout,
        )
        try:
            await ws.prepare(request)
        except Exception as exc:
            if server.on_upgrade_error is not None:
                server.on_upgrade_error(exc)
            raise
        socket = sink = _ServerSocket(ws, request)
        conn = server.new_conn(
            socket,
            sink,
            conn_id,
            request=request,
            reconnect_tries=reconnect_tries(request),
        )
        accepted = False
        try:
            # Server.serve, spelled out: one coroutine frame less for every idle connection.
            accepted = await server.open(conn, socket)
            if accepted:
                await conn.inbound.run()
                await conn.wait_closed()
        except asyncio.CancelledError:
            # The application is shutting down under us: still say goodbye properly, unless
            # the peer is gone (aiohttp with handler_cancellation cancels a lost one's handler).
            if not ws.closed and not sink.lost:
                await asyncio.shield(conn.close(CloseCode.GOING_AWAY, SERVER_SHUTDOWN, drain=False))
            raise
        finally:
            await server.finish(conn, accepted)
            sink.end(options.close_timeout)
        return ws

    return handle


def setup(app: web.Application, server: Server) -> None:
    """Tie *server* to *app*: started at startup, closed (1001 to every peer) at shutdown.

    The close runs in ``app.on_shutdown``, which aiohttp's runner calls after it stopped
    listening and before it waits (``shutdown_timeout``) for request handlers to finish, so
    every websocket handler has ended by then; see `Server.close` for its bound. The server
    is then reachable as ``app[SERVER_KEY]``.
    """
    app[SERVER_KEY] = server

    async def start(_: web.Application) -> None:
        await server.start()

    async def shutdown(_: web.Application) -> None:
        await server.close()

    app.on_startup.append(start)
    app.on_shutdown.append(shutdown)
