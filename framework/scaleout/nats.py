"""`NATSExchange`: scale-out over NATS core pub/sub (nats-py; ``pip install aioneffos[nats]``)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from .cluster import BusExchange
from .link import LinkSettings, OnCount, Outgoing, cancel_and_wait, redacted_url

logger = logging.getLogger("aioneffos.exchange")

NO_RESPONDERS = "503"
"""The status NATS answers to a reply subject when no subscriber got the message."""
ERROR_LOG_INTERVAL = 10.0
"""Seconds between two warnings about non-fatal NATS errors (a slow consumer repeats per message)."""


@functools.cache
def _direct_client() -> type | None:
    """Give nats-py's client class with one change: a message for a subscription in its
    ``direct`` map is handed to that map's function as it is parsed, without the `Msg`,
    queue and task hop nats-py makes for each (most of a receiving node's nats-py time),
    and the common ``MSG`` line is read without a regular expression. None when nats-py's
    parser or ``_process_msg`` is not the one this was written for (then the plain client,
    and its callbacks, it is)."""
    from nats.aio.client import Client
    from nats.protocol import parser

    expected = ["self", "sid", "subject", "reply", "data", "headers"]
    if list(inspect.signature(Client._process_msg).parameters) != expected or not all(
        hasattr(parser, name) for name in ("Parser", "AWAITING_CONTROL_LINE", "MAX_CONTROL_LINE_SIZE")
    ):
        return None
    control_line, max_line = parser.AWAITING_CONTROL_LINE, parser.MAX_CONTROL_LINE_SIZE

    def handed(client: Any, deliver: Callable[[bytes], None], data: bytes, subject: object) -> None:
        try:
            deliver(data)
        except Exception:  # the exchange logs its own errors; never break the read loop
            logger.exception("nats %s: failed to handle a message on %s", client.options.get("name"), subject)

    class DirectParser(parser.Parser):
        async def parse(self, data: bytes = b"") -> None:
            """Take the complete ``MSG <subject> <sid> <size>`` messages of direct subscriptions
            at the front of the buffer; leave anything else to nats-py's parser."""
            buf = self.buf
            buf.extend(data)
            direct = self.nc.direct
            while self.state == control_line and buf.startswith(b"MSG "):
                end = buf.find(b"\r\n", 4, max_line)
                if end < 0:
                    break
                args = buf[4:end].split()
                if len(args) != 3 or not args[1].isdigit() or not args[2].isdigit():
                    break  # a reply subject, or something nats-py's parser is to judge
                deliver = direct.get(int(args[1]))
                start = end + 2
                stop = start + int(args[2])
                if deliver is None or len(buf) < stop + 2:
                    break
                payload = bytes(buf[start:stop])
                del buf[: stop + 2]
                handed(self.nc, deliver, payload, args[0])
            await super().parse()

    class DirectClient(Client):
        def __init__(self) -> None:
            super().__init__()
            self.direct: dict[int, Callable[[bytes], None]] = {}
            self._ps = DirectParser(self)

        async def _process_msg(
            self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes
        ) -> None:
            deliver = self.direct.get(sid)
            if deliver is None:
                await super()._process_msg(sid, subject, reply, data, headers)
            else:
                handed(self, deliver, data, subject)

    return DirectClient


class NATSLink:
    """One NATS connection of one node, publishing and subscribed, with "no echo"."""

    def __init__(self, url: str, settings: LinkSettings) -> None:
        self._url = url
        self._name = f"aioneffos:{settings.node}"
        self._connect_timeout = settings.connect_timeout
        self._ping_interval = settings.keepalive
        self._nc: Any = None
        self._subs: dict[str, Any] = {}
        self._on_envelope: Callable[[bytes], None] | None = None
        self._lost: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        self._errors = 0
        self._error_logged = -ERROR_LOG_INTERVAL
        self._inbox = ""
        self._probes: dict[str, OnCount] = {}
        self._probe_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def _broke(self, reason: BaseException) -> None:
        if not self._lost.done():
            self._lost.set_result(reason)

    async def open(self, channels: Collection[str], on_envelope: Callable[[bytes], None]) -> None:
        """Connect (nats-py's own reconnect off: `BusExchange` reconnects), then subscribe *channels*."""
        from nats.aio.client import Client

        async def on_error(exc: Exception) -> None:
            # Fatal errors also close the connection (then on_disconnected runs); a slow
            # consumer or a permissions error does not, so only log them, once in a while.
            self._errors += 1
            now = time.monotonic()
            if now - self._error_logged >= ERROR_LOG_INTERVAL:
                logger.warning("nats %s: %r (%d errors so far)", self._name, exc, self._errors)
                self._error_logged = now

        async def on_disconnected() -> None:
            self._broke(ConnectionError("nats connection closed"))

        self._on_envelope = on_envelope
        client = _direct_client()
        self._nc = Client() if client is None else client()
        await self._nc.connect(
            self._url,
            name=self._name,
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=self._connect_timeout,
            no_echo=True,
            skip_subject_validation=True,  # our subjects are made of safe tokens (envelope.Channels)
            ping_interval=self._ping_interval,
            max_outstanding_pings=2,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            closed_cb=on_disconnected,
        )
        # Counted messages carry a reply subject here: with no subscriber at all the server
        # answers "503 no responders" to it, the only receiver count NATS gives.
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(f"{self._inbox}.*", cb=self._on_status)
        await self.subscribe(channels)

    async def _on_status(self, msg: Any) -> None:
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            on_count = self._probes.pop(msg.subject.rpartition(".")[2], None)
            if on_count is not None:
                on_count(0)

    async def _deliver(self, msg: Any) -> None:
        assert self._on_envelope is not None
        self._on_envelope(msg.data)

    async def subscribe(self, channels: Collection[str]) -> None:
        """Subscribe to *channels* (``flush``/`sync` confirms them)."""
        for channel in channels:
            if channel not in self._subs:
                # No pending limit by count; 64 MiB of bytes per subject before NATS calls it slow.
                sub = self._subs[channel] = await self._nc.subscribe(
                    channel, cb=self._deliver, pending_msgs_limit=0, pending_bytes_limit=64 << 20
                )
                direct = getattr(self._nc, "direct", None)
                if direct is not None and self._on_envelope is not None:
                    direct[sub._id] = self._on_envelope  # the callback is then never called

    async def unsubscribe(self, channels: Collection[str]) -> None:
        """Unsubscribe from *channels*."""
        for channel in channels:
            sub = self._subs.pop(channel, None)
            if sub is not None:
                getattr(self._nc, "direct", {}).pop(sub._id, None)
                await sub.unsubscribe()

    async def sync(self) -> None:
        """PING/PONG through the server: every earlier SUB and UNSUB has been processed."""
        # nats-py (2.16) writes a flush's PING straight to the socket, ahead of the SUB and
        # UNSUB commands its flusher task has not written yet, so one PONG can come back
        # before the server has seen them. By the second PING they are on the wire before it.
        await self._nc.flush(timeout=self._connect_timeout)
        await self._nc.flush(timeout=self._connect_timeout)

    async def publish(self, batch: Sequence[Outgoing]) -> None:
        """Publish every message; a counted one learns None (some), or 0 if nobody subscribes."""
        from nats.errors import MaxPayloadError

        publish = self._nc.publish
        probed: list[str] = []
        for channel, data, on_count in batch:
            try:
                if on_count is None:
                    await publish(channel, data)
                    continue
                probe = str(next(self._probe_ids))
                self._probes[probe] = on_count
                probed.append(probe)
                await publish(channel, data, reply=f"{self._inbox}.{probe}")
            except MaxPayloadError:
                # The exchange checks sizes first; this one message is skipped, the link stays.
                logger.error(
                    "nats %s: a message of %d bytes over max_payload was not sent", self._name, len(data)
                )
                if on_count is not None:
                    on_count(0)
                continue
            on_count(None)
        if probed:
            task = asyncio.get_running_loop().create_task(self._forget_after_flush(probed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _forget_after_flush(self, probes: list[str]) -> None:
        """A "no responders" answer comes before the PONG of a later PING: after it, none will."""
        try:
            await self._nc.flush(timeout=self._connect_timeout)
        except Exception:  # the link is breaking; the session handles that
            pass
        finally:
            for probe in probes:
                self._probes.pop(probe, None)

    @property
    def max_payload(self) -> int | None:
        """Give the server's ``max_payload`` (from its INFO; 1 MiB unless configured)."""
        return int(self._nc.max_payload) if self._nc is not None else None

    async def lost(self) -> BaseException:
        """Wait until the connection breaks."""
        return await asyncio.shield(self._lost)

    async def close(self) -> None:
        """Close the connection; a dead server is not waited for."""
        await cancel_and_wait(list(self._tasks))
        if self._nc is not None and not self._nc.is_closed:
            try:
                async with asyncio.timeout(1.0):
                    await self._nc.close()
            except Exception:  # the server is gone already; nothing left to release
                pass
        self._broke(ConnectionError("closed"))


class NATSExchange(BusExchange):
    """Scale-out through NATS: ``Server(..., exchange=NATSExchange("nats://host:4222"))``.

    Each node opens one NATS connection, whatever its number of websocket clients.
    Keyword arguments are those of `BusExchange` (``prefix``, ``reconnect_max``, ...); the
    server's ``max_payload`` (1 MiB by default) limits what is published, or
    ``max_payload=`` if lower.
    """

    def __init__(self, url: str = "nats://127.0.0.1:4222", **options: Any) -> None:
        super().__init__(functools.partial(NATSLink, url), redacted_url(url), **options)
