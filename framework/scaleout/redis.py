"""`RedisExchange`: scale-out over Redis pub/sub (redis-py asyncio; ``pip install aioneffos[redis]``)."""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .cluster import BusExchange
from .link import LinkSettings, Outgoing, cancel_and_wait, logger, redacted_url

_CHUNK = 1000
"""Channels per SUBSCRIBE/UNSUBSCRIBE command (a reconnecting node may have many)."""
PUBLISH_ALL = """
local counts = {}
for i = 1, #ARGV, 2 do counts[#counts + 1] = redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
return counts
"""
"""Publishes the channel/message pairs of its arguments in order; gives each receiver count."""
DEFAULT_MAX_PAYLOAD = 8 << 20
"""The largest envelope a `RedisExchange` publishes unless told otherwise (8 MiB): above the
1 MiB a server accepts from a client by default, and within Redis's output buffer limit
for pub/sub clients (8 MiB for a minute, 32 MiB at once), past which Redis cuts the subscriber."""


_READ_SIZE = 1 << 16
"""Bytes read from the subscribed connection at a time (redis-py's own read size)."""


def _raw_reader(pubsub: Any) -> tuple[Any, asyncio.StreamReader, object] | None:
    """Give the hiredis reader, the stream and the "not enough data" marker of *pubsub*'s
    connection, or None when it does not parse with hiredis (then redis-py reads)."""
    try:
        from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
    except ImportError:  # another redis-py layout: its own reading it is
        return None
    parser = getattr(pubsub.connection, "_parser", None)
    if type(parser) is not _AsyncHiredisParser:
        return None
    reader, stream = getattr(parser, "_reader", None), getattr(parser, "_stream", None)
    if reader is None or not isinstance(stream, asyncio.StreamReader):
        return None
    return reader, stream, NOT_ENOUGH_DATA


@functools.cache
def _hiredis_pack() -> Callable[[tuple[Any, ...]], bytes] | None:
    """Give ``hiredis.pack_command``, or None without hiredis (then redis-py packs)."""
    try:
        import hiredis
    except ImportError:
        return None
    pack: Callable[[tuple[Any, ...]], bytes] | None = getattr(hiredis, "pack_command", None)
    return pack


def _chunks(channels: Collection[str]) -> list[list[str]]:
    items = sorted(channels)
    return [items[i : i + _CHUNK] for i in range(0, len(items), _CHUNK)]


class RedisLink:
    """Two Redis connections of one node: one publishes (pipelined), one is subscribed."""

    def __init__(self, url: str, settings: LinkSettings) -> None:
        self._url = url
        self._name = f"aioneffos:{settings.node}"
        self._connect_timeout = settings.connect_timeout
        self._pub: Any = None
        self._sub: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        self._pongs: dict[bytes, asyncio.Future[None]] = {}
        self._tokens = itertools.count(1)
        self._script_sha: str | None = None
        self._scripts = True

    def _client(self, role: str) -> Any:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # One connection per role, no hidden retries: BusExchange reconnects on its own.
        pool = aioredis.ConnectionPool.from_url(
            self._url,
            max_connections=1,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=self._connect_timeout,
            client_name=f"{self._name}:{role}",
        )
        return aioredis.Redis(connection_pool=pool)

    async def open(self, channels: Collection[str], on_envelope: Callable[[bytes], None]) -> None:
        """Connect both connections, subscribe *channels* and start reading."""
        self._pub = self._client("pub")
        await self._pub.ping()
        self._sub = self._client("sub")
        self._pubsub = self._sub.pubsub()
        for chunk in _chunks(channels):
            await self._pubsub.subscribe(*chunk)
        self._reader = asyncio.get_running_loop().create_task(self._read(on_envelope))

    async def _read(self, on_envelope: Callable[[bytes], None]) -> None:
        pubsub = self._pubsub
        try:
            raw = _raw_reader(pubsub)
            if raw is not None:
                await self._read_raw(on_envelope, *raw)
            while True:  # no hiredis: redis-py parses
                # A published message is handed on as it is read: redis-py's get_message would
                # build a dict and record metrics for each one, the bulk of a node's receive time.
                response = await pubsub.parse_response(block=True)
                if isinstance(response, list) and len(response) == 3 and response[0] == b"message":
                    on_envelope(response[2])
                    continue
                await self._handle(response)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if not self._lost.done():
                self._lost.set_result(exc)

    async def _read_raw(
        self, on_envelope: Callable[[bytes], None], reader: Any, stream: asyncio.StreamReader, more: object
    ) -> None:
        """Read the subscribed connection with its hiredis reader directly: every reply already
        read is taken in one go, without redis-py's five calls, timeout and logging per message."""
        gets, feed, read = reader.gets, reader.feed, stream.read
        while True:
            response = gets()
            if response is more:
                data = await read(_READ_SIZE)
                if not data:
                    raise ConnectionError("redis closed the subscribed connection")
                feed(data)
            elif isinstance(response, list) and len(response) == 3 and response[0] == b"message":
                on_envelope(response[2])
            elif isinstance(response, BaseException):
                raise response  # an error reply, or one hiredis made of a protocol error
            else:
                await self._handle(response)

    async def _handle(self, response: Any) -> None:
        """Give redis-py what is not a message: (un)subscribe bookkeeping, pongs."""
        msg = await self._pubsub.handle_message(response)
        if msg is not None and msg["type"] == "pong":
            waiter = self._pongs.pop(msg["data"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    async def subscribe(self, channels: Collection[str]) -> None:
        """Subscribe to *channels*."""
        for chunk in _chunks(channels):
            await self._pubsub.subscribe(*chunk)

    async def unsubscribe(self, channels: Collection[str]) -> None:
        """Unsubscribe from *channels* (never from all: an empty call would do that)."""
        for chunk in _chunks(channels):
            if chunk:
                await self._pubsub.unsubscribe(*chunk)

    async def sync(self) -> None:
        """PING on the subscribed connection; Redis answers in order, so earlier commands are done."""
        token = f"aioneffos-sync-{next(self._tokens)}".encode()
        waiter = asyncio.get_running_loop().create_future()
        self._pongs[token] = waiter
        try:
            await self._pubsub.ping(token)
            await asyncio.wait([waiter, self._lost], return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                raise ConnectionError("redis link lost while waiting for PONG")
        finally:
            self._pongs.pop(token, None)

    async def publish(self, batch: Sequence[Outgoing]) -> None:
        """PUBLISH every message in one round trip; Redis tells how many subscribers got each.

        One command for the whole batch (a script publishing the pairs in order, one reply
        to read) costs the node a third less than a pipeline of PUBLISH commands; where
        scripts are not allowed (``NOPERM``, a disabled ``EVAL``), a pipeline it is.
        """
        counts = await (self._publish_script(batch) if self._scripts else self._publish_pipeline(batch))
        for (_, _, on_count), count in zip(batch, counts, strict=True):
            if on_count is not None:
                on_count(count)

    async def _publish_script(self, batch: Sequence[Outgoing]) -> list[int]:
        from redis.exceptions import NoPermissionError, NoScriptError, ResponseError

        args: list[str | bytes] = []
        for channel, data, _ in batch:
            args += (channel, data)
        try:
            if self._script_sha is None:
                self._script_sha = await self._pub.script_load(PUBLISH_ALL)
            try:
                counts: list[int] = await self._evalsha(self._script_sha, args)
            except NoScriptError:  # a restarted Redis forgot it
                self._script_sha = None
                counts = await self._pub.eval(PUBLISH_ALL, 0, *args)
            return counts
        except ResponseError as exc:
            # Refused before it ran (no permission, scripting disabled): nothing was published.
            refused = isinstance(exc, NoPermissionError) or any(
                word in str(exc) for word in ("NOPERM", "unknown command", "disabled")
            )
            if not refused:
                raise
            logger.warning("redis %s: scripts refused (%s); publishing with pipelines", self._name, exc)
            self._scripts = False
            return await self._publish_pipeline(batch)

    async def _evalsha(self, sha: str, args: list[str | bytes]) -> Any:
        """EVALSHA *sha* with no keys and *args*: packed by hiredis in one call (redis-py packs
        argument by argument in Python), sent and read on the publishing connection."""
        pack = _hiredis_pack()
        if pack is None:
            return await self._pub.evalsha(sha, 0, *args)
        pool = self._pub.connection_pool
        conn = await pool.get_connection()
        try:
            await conn.send_packed_command(pack(("EVALSHA", sha, 0, *args)))
            return await conn.read_response()
        finally:
            await pool.release(conn)

    async def _publish_pipeline(self, batch: Sequence[Outgoing]) -> list[int]:
        pipe = self._pub.pipeline(transaction=False)
        for channel, data, _ in batch:
            pipe.publish(channel, data)
        counts: list[int] = await pipe.execute()
        return counts

    @property
    def max_payload(self) -> int | None:
        """No limit of Redis's own that matters: the exchange's ``max_payload`` applies."""
        return None

    async def lost(self) -> BaseException:
        """Wait until the subscribed connection breaks."""
        return await asyncio.shield(self._lost)

    async def close(self) -> None:
        """Close both connections without waiting for a dead server."""
        if self._reader is not None:
            await cancel_and_wait([self._reader])
        for closing in (self._pubsub, self._sub, self._pub):
            if closing is None:
                continue
            try:
                async with asyncio.timeout(1.0):
                    await closing.aclose()
                    pool = getattr(closing, "connection_pool", None)
                    if pool is not None:
                        await pool.disconnect()
            except Exception:  # the server is gone already; nothing left to release
                pass
        if not self._lost.done():
            self._lost.set_result(ConnectionError("closed"))


class RedisExchange(BusExchange):
    """Scale-out through Redis pub/sub: ``Server(..., exchange=RedisExchange("redis://host:6379/0"))``.

    Each node opens two Redis connections (publishing, and the subscribed one redis-py
    needs for pub/sub), whatever its number of websocket clients. Keyword arguments are
    those of `BusExchange` (``prefix``, ``reconnect_max``, ...); ``max_payload`` is 8 MiB
    unless given (`DEFAULT_MAX_PAYLOAD`).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        max_payload: int | None = DEFAULT_MAX_PAYLOAD,
        **options: Any,
    ) -> None:
        super().__init__(
            functools.partial(RedisLink, url), redacted_url(url), max_payload=max_payload, **options
        )
