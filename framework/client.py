"""The Python client: `dial` a neffos server (ours or Go's), with optional reconnection."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import WSMsgType

from . import events as ev
from .conn import CLOSE_POLICY, Conn
from .errors import ConnectionRefusedByPeerError, HandshakeError, ReconnectingError
from .logs import fields
from .ns_conn import NSConn
from .options import Options
from .protocol import ACK_OK, ACK_REFUSED, ACK_REQUEST, Frame, Tokens
from .websocket import RECONNECT_HEADER

logger = logging.getLogger("aioneffos.client")

MAX_RECONNECT_DELAY = 30.0
_HAS_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")


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


class _Dialer:
    """Opens sockets for one client connection and, with *reconnect*, reopens them."""

    def __init__(
        self,
        url: str,
        tables: dict[str, ev.NamespaceTable],
        headers: Mapping[str, str],
        reconnect: float | None,
        options: Options,
        session: aiohttp.ClientSession | None,
    ) -> None:
        self.url = url
        self.tables = tables
        self.headers = dict(headers)
        self.reconnect = reconnect
        self.options = options
        self.own_session = session is None
        self.session = session or aiohttp.ClientSession()
        self.tokens = Tokens("$")

    @property
    def native_only(self) -> bool:
        """Tell whether the only handler is ``_OnNativeMessage``: a plain websocket, no handshake."""
        return ev.is_native_only(self.tables)

    async def open(self, tries: int) -> tuple[aiohttp.ClientWebSocketResponse, str]:
        """Open a websocket and complete the handshake; return it with our connection id."""
        headers = dict(self.headers)
        if tries:
            headers[RECONNECT_HEADER] = str(tries)
        ws = await self.session.ws_connect(
            self.url,
            headers=headers,
            max_msg_size=self.options.max_message_size + 1,  # aiohttp's limit is exclusive
            heartbeat=self.options.ping_interval,
        )
        if self.native_only:
            # neffos sendClientACK: a native-only client talks to any websocket server,
            # so it sends no M and gets no id.
            return ws, ""
        try:
            await ws.send_str(ACK_REQUEST)
            async with asyncio.timeout(self.options.handshake_timeout):
                while True:
                    raw = await ws.receive()
                    if raw.type is not WSMsgType.TEXT:
                        if raw.type is WSMsgType.BINARY:
                            continue
                        raise HandshakeError(f"connection closed during the handshake ({ws.close_code})")
                    if raw.data.startswith(ACK_OK):
                        return ws, raw.data[1:]
                    if raw.data.startswith(ACK_REFUSED):
                        raise ConnectionRefusedByPeerError(raw.data[1:] or "connection refused")
                    # neffos servers send nothing before the ack; ignore anything else.
        except TimeoutError:
            await ws.close(code=CLOSE_POLICY, message=b"handshake timeout")
            raise HandshakeError("no handshake answer from the server") from None
        except BaseException:
            await ws.close()
            raise

    async def run(self, conn: Conn) -> None:
        """Read until the socket ends; then reconnect, if asked to, or finish."""
        try:
            while True:
                await conn.read_forever()
                await conn.wait_closed()
                # With reconnect, the conn remembered its live namespaces and rooms when the
                # socket ended; the forced disconnect events fire now, with is_reconnecting set.
                await conn.teardown()
                if not conn.is_reconnecting or not await self._reopen(conn):
                    return
                await self._restore(conn)
        finally:
            conn.end_restore()
            if self.own_session:
                await self.session.close()

    async def _reopen(self, conn: Conn) -> bool:
        assert self.reconnect is not None
        delay = self.reconnect
        tries = conn.reconnect_tries
        while not conn.closed_by_us:
            await asyncio.sleep(delay * (0.5 + random.random() / 2))
            tries += 1
            try:
                ws, conn_id = await self.open(tries)
            except ConnectionRefusedByPeerError as exc:
                logger.warning("reconnect refused by the server, giving up: %s", exc, extra=fields(conn.id))
                return False
            except (aiohttp.ClientError, HandshakeError, OSError, TimeoutError) as exc:
                logger.info("reconnect attempt %d failed: %s", tries, exc, extra=fields(conn.id))
                delay = min(delay * 2, MAX_RECONNECT_DELAY)
                continue
            if not conn.is_reconnecting:  # closed while dialling: do not come back to life
                await ws.close()
                return False
            conn.rebind(conn_id, ws, _ClientSink(ws), tries)
            logger.info("reconnected as %r after %d attempt(s)", conn_id, tries, extra=fields(conn_id))
            return True
        return False

    async def _restore(self, conn: Conn) -> None:
        """Reconnect the namespaces and rooms we had, reusing the same `NSConn` and `Room` objects."""
        for ns, rooms in conn.to_restore():
            if not conn.will_restore(ns):
                continue  # the program disconnected it meanwhile
            if self.native_only:
                conn.register(ns)  # namespace "" is connected from the start, nothing to ask
                continue
            try:
                await conn.open_namespace(ns)
                for room in rooms:
                    if conn.will_restore(ns, room.name):
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
            conn.forget_restore(ns)
        conn.end_restore()


async def dial(
    url: str,
    namespaces: ev.HandlerSource,
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
    dialer = _Dialer(
        url,
        ev.compile_namespaces(namespaces),
        headers or {},
        reconnect,
        Options(**options),
        session,
    )
    try:
        ws, conn_id = await dialer.open(0)
    except BaseException:
        if dialer.own_session:
            await dialer.session.close()
        raise
    conn = Conn(conn_id, True, ws, dialer.tables, dialer.options, dialer.tokens)
    conn.auto_reconnect = reconnect is not None
    conn.attach(_ClientSink(ws))
    conn.mark_acknowledged()
    if dialer.native_only:
        conn.register(NSConn(conn, "", dialer.tables[""]))
    conn.supervise(dialer.run(conn))
    return conn
