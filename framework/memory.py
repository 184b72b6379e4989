"""An in-memory transport: websocket pairs inside one process, for tests and embedding.

`MemorySocket` is one end of a pair (`pipe`) and implements both halves of the transport
seam (`Socket` and `FrameSink`): what one end writes, the other receives, frame by frame, in
order, with a websocket's close handshake (a close frame with a code and a reason, answered
by the peer; `abort` cuts both ends, 1006). An end may hold at most *capacity* unread
frames; past it the writer waits, as a socket whose peer stops reading.

`accept_memory` opens a connection to a `Server` as its aiohttp glue accepts an upgrade
(the same refusals, the request's headers, query and remote address, see `memory_request`)
and runs it (`Server.serve`), giving the client's end: a raw peer that speaks frames
(``await end.send("M")``, ``await end.receive()``). `dial_memory` is `dial` over it: a
client `Conn` with the handshake, reconnection and everything else of the Python client.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, cast

from aiohttp import web
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_urldispatcher import SystemRoute, UrlMappingMatchInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .client import handshake, open_client
from .conn import Conn
from .handlers import HandlerSource, compile_namespaces
from .options import Options
from .protocol import RECONNECT_HEADER, CloseCode, Frame
from .server import Server
from .tables import is_native_only
from .transport import FrameSink, Socket
from .websocket import IdGenerator, admit, reconnect_tries


class _Close(NamedTuple):
    code: int
    reason: bytes


class MemorySocket:
    """One end of an in-memory websocket pair; see the module docstring."""

    __slots__ = (
        "_capacity",
        "_close_code",
        "_closed",
        "_ended",
        "_got_close",
        "_inbox",
        "_peer",
        "_readable",
        "_receivers",
        "_sent_close",
        "_space",
        "_tasks",
        "close_reason",
    )

    def __init__(self, capacity: int | None = None) -> None:
        self._capacity = capacity
        self._inbox: deque[str | bytes | _Close] = deque()
        self._readable = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._closed = asyncio.Event()
        self._peer: MemorySocket = self
        self._sent_close: _Close | None = None
        self._got_close: _Close | None = None
        self._ended = False
        self._close_code: int | None = None
        self._receivers = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.close_reason = ""
        """The reason of the close frame that closed this end (the peer's, or ours)."""

    # -- reading (`Socket`) -----------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> str | bytes | None:
        """Give the next frame the peer wrote (``str`` text, ``bytes`` binary), or ``None``
        once closed; a close frame from the peer is answered with the same code."""
        self._receivers += 1
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if self._inbox:
                        item = self._inbox.popleft()
                        if len(self._inbox) < (self._capacity or 1):
                            self._space.set()
                        if not isinstance(item, _Close):
                            return item
                        self._got_close = item
                        if self._sent_close is None:  # the peer closes: answer, as aiohttp does
                            self._close_code = item.code
                            self.close_reason = item.reason.decode(errors="replace")
                            self._send_close(_Close(item.code, b""))
                        self._end()
                        return None
                    if self._ended:
                        return None
                    self._readable.clear()
                    await self._readable.wait()
        finally:
            self._receivers -= 1

    async def close(self, *, code: int = CloseCode.NORMAL, message: bytes = b"") -> bool:
        """Send a close frame and wait for the peer's answer; ``False`` if already closing."""
        if self._sent_close is not None or self._ended:
            await self._closed.wait()
            return False
        self._close_code = code
        self.close_reason = message.decode(errors="replace")
        self._send_close(_Close(code, message))
        if self._receivers:
            await self._closed.wait()  # the reading task gets the answer
        else:
            while await self.receive() is not None:
                pass  # frames the peer sent before its answer are dropped, as aiohttp does
        return True

    @property
    def close_code(self) -> int | None:
        """Give the code of the close that closed this end, once closed (1006 when cut)."""
        return self._close_code if self._ended else None

    @property
    def closed(self) -> bool:
        """Tell whether this end has closed (or was cut)."""
        return self._ended

    # -- writing (`FrameSink`) --------------------------------------------------------

    def write_now(self, frame: Frame) -> bool:
        """Hand *frame* to the peer at once, unless it holds *capacity* unread frames already."""
        if self.lost:
            return False
        peer = self._peer
        if peer._capacity is not None and len(peer._inbox) >= peer._capacity:
            return False
        peer._deliver(frame.payload.decode() if frame.text else frame.payload)
        return True

    async def write(self, frame: Frame) -> None:
        """Hand *frame* to the peer once it has room; raise `ConnectionResetError` once closing."""
        while not self.write_now(frame):
            if self.lost:
                raise ConnectionResetError("memory socket is closing")
            space = self._peer._space
            space.clear()
            await space.wait()

    async def send(self, data: str | bytes) -> None:
        """Send one data frame: text for ``str``, binary for ``bytes`` (for a raw peer)."""
        text = isinstance(data, str)
        await self.write(Frame(data.encode() if isinstance(data, str) else data, text))

    def abort(self) -> None:
        """Cut both ends now: unread frames are lost, both ends close with 1006."""
        for end in (self, self._peer):
            end._inbox.clear()
            if not end._ended:
                end._close_code = end._close_code or 1006
                end._end()

    @property
    def lost(self) -> bool:
        """Tell whether this end is closing or closed (by either side, or cut)."""
        return self._ended or self._sent_close is not None or self._got_close is not None

    async def served(self) -> None:
        """Wait until the server side of this end has finished (`accept_memory`'s `Server.serve`
        returned: teardown and ``on_disconnect`` included); at once for an end of a bare `pipe`."""
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- inside --------------------------------------------------------------------------

    def _deliver(self, item: str | bytes | _Close) -> None:
        if self._ended:
            return
        self._inbox.append(item)
        self._readable.set()

    def _send_close(self, close: _Close) -> None:
        self._sent_close = close
        self._peer._deliver(close)

    def _end(self) -> None:
        self._ended = True
        self._readable.set()
        self._space.set()
        self._peer._space.set()
        self._closed.set()

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def pipe(capacity: int | None = None) -> tuple[MemorySocket, MemorySocket]:
    """Make two connected ends; each holds at most *capacity* unread frames (``None``: no bound)."""
    first, second = MemorySocket(capacity), MemorySocket(capacity)
    first._peer, second._peer = second, first
    return first, second


class _NoTransport:
    """What a `memory_request` has for a network connection: an address, and nothing else."""

    __slots__ = ("peername",)

    ssl_context = None
    sockname = None
    transport = None

    def __init__(self, remote: str) -> None:
        self.peername = (remote, 0)


def memory_request(
    path: str = "/ws",
    headers: Mapping[str, str] | None = None,
    *,
    remote: str = "127.0.0.1",
    app: web.Application | None = None,
) -> web.Request:
    """Make the upgrade request of an in-memory connection: a real ``aiohttp.web.Request``
    (``GET`` *path*, query string included) with *headers*, *remote* and *app*; it has no
    network connection (``request.transport`` is ``None``) and no body."""
    hdrs = CIMultiDictProxy(CIMultiDict(headers or {}))
    raw = tuple((k.encode(), v.encode()) for k, v in hdrs.items())
    message = RawRequestMessage("GET", path, HttpVersion11, hdrs, raw, False, None, True, False, URL(path))
    request = web.Request(
        message,
        EMPTY_PAYLOAD,
        cast(Any, _NoTransport(remote)),
        cast(Any, None),
        cast(Any, asyncio.current_task()),
        asyncio.get_running_loop(),
    )
    match_info = UrlMappingMatchInfo({}, SystemRoute(web.HTTPOk()))
    match_info.add_app(app if app is not None else web.Application())
    request._match_info = match_info
    return request


async def accept_memory(
    server: Server,
    *,
    path: str = "/ws",
    headers: Mapping[str, str] | None = None,
    remote: str = "127.0.0.1",
    app: web.Application | None = None,
    id_generator: IdGenerator | None = None,
    capacity: int | None = None,
) -> MemorySocket:
    """Open an in-memory connection to *server* and give the client's end of it.

    The server side is accepted as the aiohttp glue accepts an upgrade (`admit`): refused
    with `UpgradeRefusedError` (a `ConnectionRefusedError`) when the server is closed, full
    (`Options.max_connections`), refuses the origin or the id is invalid;
    ``X-Websocket-Header-*`` query parameters of *path* become headers; the id comes from
    *id_generator* or the server's. Then `Server.serve` runs it (the handshake, the
    handlers, the teardown) until it ends. The request belongs to *app* (``request.app``)
    when given.
    """
    request = memory_request(path, headers, remote=remote, app=app)
    request, conn_id = await admit(server, request, id_generator)
    server_end, client_end = pipe(capacity)
    conn = server.new_conn(
        server_end, server_end, conn_id, request=request, reconnect_tries=reconnect_tries(request)
    )
    client_end._keep(asyncio.get_running_loop().create_task(_serve(server, conn, server_end)))
    return client_end


async def _serve(server: Server, conn: Conn, socket: MemorySocket) -> None:
    try:
        await server.serve(conn, socket)
    finally:
        if not socket.closed:
            socket.abort()  # the connection ended without its close handshake (cancelled)


async def dial_memory(
    server: Server,
    namespaces: HandlerSource,
    *,
    path: str = "/ws",
    headers: Mapping[str, str] | None = None,
    remote: str = "127.0.0.1",
    app: web.Application | None = None,
    reconnect: float | None = None,
    capacity: int | None = None,
    on_open: Callable[[MemorySocket], object] | None = None,
    **options: Any,
) -> Conn:
    """Connect a Python client to *server* in memory and give the acknowledged client `Conn`
    (see `dial`; *path*, *headers*, *remote* and *app* make the upgrade request, see
    `accept_memory`). *on_open* is called with the client's end of each socket opened.

    With *reconnect*, a dropped connection is opened again the same way and its namespaces
    and rooms are restored. Raise `ConnectionRefusedError` or
    `ConnectionRefusedByPeerError` when the server refuses.
    """
    tables = compile_namespaces(namespaces)
    settings = Options(**options)
    native_only = is_native_only(tables)
    base_headers = dict(headers or {})

    async def open_socket(tries: int) -> tuple[Socket, FrameSink, str]:
        sent = {**base_headers, RECONNECT_HEADER: str(tries)} if tries else base_headers
        end = await accept_memory(server, path=path, headers=sent, remote=remote, app=app, capacity=capacity)
        if on_open is not None:
            on_open(end)
        return end, end, await handshake(end, end, settings, native_only=native_only)

    return await open_client(open_socket, tables, settings, reconnect=reconnect)
