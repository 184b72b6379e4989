"""The inbound loop of one connection: read, decode, match replies, run handlers in order.

Handlers run inline, in the reading task, one after the other: no task per message
(docs/protocol.md#handler-order). A reply to one of this side's asks resolves it before any
handler runs, and the asker resumes before the next frame (docs/protocol.md#asker-first); a
late reply is dropped. While the peer's ask is handled the outbox is held, so the answer is
the next frame the peer reads (docs/protocol.md#reply-order).

When a handler awaits a reply on its own connection, reading moves to a fresh task
(`keep_reading`); what arrives meanwhile waits in a backlog and runs afterwards, in order.
Past `Options.inbound_backlog_size` messages reading pauses, unless an ask waits (its reply
may be next); past `Options.inbound_backlog_bytes` the waiting asks give up
(`BacklogFullError`) and reading pauses. Frames received before the handshake come first
(`read_first`). Rate limits and `Options.handler_timeout` apply here.

The loop knows no connection class: it is built from a `Session` (what it asks of its
connection, see `seams`), the socket, a router, and the connection's `AskTable` and `Outbox`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Iterable
from typing import Any, Generic, cast

from .asks import AskTable
from .errors import HANDLER_TIMED_OUT, RATE_LIMITED, BacklogFullError
from .limits import RateLimiter, Verdict
from .logs import fields
from .message import Message
from .options import Options
from .outbox import Outbox
from .protocol import READ_TIMEOUT, CloseCode, decode, decode_native
from .seams import Router, S
from .transport import DirectSocket, Socket

logger = logging.getLogger("aioneffos.conn")

HELD_MESSAGE_OVERHEAD = 256
"""Bytes a held message counts beyond its names and body (the objects that carry it)."""


def held_size(msg: Message) -> int:
    """Give the bytes *msg* counts against `Options.inbound_backlog_bytes` while it is held."""
    return len(msg.body) + len(msg.event) + len(msg.room) + len(msg.namespace) + HELD_MESSAGE_OVERHEAD


READING: contextvars.ContextVar[InboundLoop[Any] | None] = contextvars.ContextVar(
    "aioneffos_reading", default=None
)
"""The inbound loop whose task runs the current code (its handlers, and tasks they start)."""


class InboundLoop(Generic[S]):
    """Reads one socket and runs what arrives, in order; see the module docstring."""

    __slots__ = (
        "_allow_native",
        "_asks",
        "_backlog",
        "_backlog_bytes",
        "_backlog_room",
        "_busy",
        "_decode_native_only",
        "_early",
        "_ended",
        "_handler_cancelled",
        "_handler_task",
        "_limiter",
        "_options",
        "_outbox",
        "_reader",
        "_route",
        "_session",
        "_socket",
        "paced",
    )

    def __init__(
        self,
        session: S,
        socket: Socket,
        route: Router[S],
        asks: AskTable,
        outbox: Outbox,
        options: Options,
        *,
        native_only: bool = False,
        allow_native: bool = False,
    ) -> None:
        self._session = session
        self._socket = socket
        self._route = route
        self._asks = asks
        self._outbox = outbox
        self._options = options
        self._decode_native_only = native_only
        self._allow_native = allow_native
        self._limiter: RateLimiter | None = None
        if options.max_messages_per_second or options.max_bytes_per_second:
            self._limiter = RateLimiter(
                options.max_messages_per_second, options.max_bytes_per_second, options.max_message_size
            )
        self._reader: asyncio.Task[None] | None = None
        self._handler_task: asyncio.Task[Any] | None = None
        self._busy = False
        self._handler_cancelled = False
        self._backlog: deque[Message] | None = None
        self._backlog_bytes = 0
        self._backlog_room: asyncio.Event | None = None
        self._early: deque[str | bytes] | None = None
        self._ended = False
        self.paced = False
        """Set when a handler run by this loop published while the exchange was congested: the
        loop waits for room (`Session.pace`) before it reads on."""

    # -- reading --------------------------------------------------------------

    async def run(self) -> None:
        """Read and handle messages until the socket ends or reading moves to another task.

        The caller's task becomes the reader unless one is already running.
        """
        me = asyncio.current_task()
        if self._reader is None:
            self._reader = me
        READING.set(self)
        session = self._session
        # The socket, not its bound `receive`, and no bound `issued`: a suspended reader's frame
        # keeps its locals, and a bound method is one more object per idle connection.
        socket = self._socket
        # A direct socket: its library's receive is awaited here (see `DirectSocket`).
        data_kinds = getattr(socket, "data_kinds", None)
        direct = cast(DirectSocket, socket) if data_kinds is not None else None
        route = self._route
        outbox = self._outbox
        limiter = self._limiter
        options = self._options
        read_timeout = options.read_timeout
        handler_timeout = options.handler_timeout
        allow_native = self._allow_native
        native_only = self._decode_native_only
        asks = self._asks
        waiters = asks.waiters
        tokens = asks.tokens
        own_first = tokens.first_chars
        data: str | bytes | None
        msg: Message | None = None
        work: Awaitable[object] | None = None
        try:
            while self._reader is me:
                early = self._early
                if early:
                    data = early.popleft()
                else:
                    # Drop the last message (and its finished handler) before waiting: an idle
                    # connection would otherwise hold them, about 0.5 KiB each.
                    data = msg = work = None
                    try:
                        if direct is not None:
                            got = await direct.receive_message(read_timeout)
                            if got.type in data_kinds:  # type: ignore[operator]
                                data = got.data
                            else:
                                direct.end_of(got)
                            got = None
                        else:
                            data = await socket.receive(read_timeout)
                    except TimeoutError:
                        logger.info("closing %r: nothing read for %ss", session, read_timeout)
                        await session.close(CloseCode.POLICY_VIOLATION, READ_TIMEOUT)
                        break
                    if data is None:
                        break
                msg = decode_native(data) if native_only else decode(data, allow_native=allow_native)
                if msg is None:
                    logger.debug("%r: dropped invalid frame %.80r", session, data)
                    continue
                wait = msg.wait
                if wait:
                    if waiters:
                        pending = waiters.pop(wait, None)
                        if pending is not None:
                            pending.resolve(msg)
                            # Let the asker resume first: a connect or join registers its
                            # namespace or room there, and the peer may use it in the very next
                            # frame (neffos conn.go tryNamespace waits for the connect too).
                            await asyncio.sleep(0)
                            continue
                    if wait[0] in own_first and tokens.issued(wait):
                        logger.debug("%r: dropped a late reply to ask %s", session, wait)
                        continue
                if limiter is not None and (verdict := limiter.admit(len(data))):
                    if verdict is Verdict.CLOSE:
                        logger.warning(
                            "closing %r: still sending past its rate limit", session, extra=fields(session.id)
                        )
                        await session.close(CloseCode.POLICY_VIOLATION, RATE_LIMITED)
                        break
                    if wait and not msg.is_native:
                        session.reply_error(msg, RATE_LIMITED)
                    continue
                if self._busy:
                    await self._hold(msg)
                    continue
                # Handled right here, in order: no task, no queue hop and no coroutine frame of
                # its own per message; then what arrived meanwhile (the backlog), the same way.
                self._busy = True
                self._handler_task = me
                try:
                    while True:
                        asked = msg.wait
                        if asked:
                            outbox.hold()
                        try:
                            work = route(session, msg)
                            if work is not None:
                                if handler_timeout is None:
                                    await work
                                else:
                                    await self._handle_within(handler_timeout, work, msg)
                        except Exception:
                            self._handling_failed(msg)
                        except asyncio.CancelledError:
                            if not self._cancelled_by_us(msg):
                                raise
                        finally:
                            if asked:
                                outbox.release()
                        if self._backlog is None:
                            break
                        msg = self._next_held()
                        if msg is None:
                            break
                finally:
                    self._busy = False
                    self._handler_task = None
                if self.paced:
                    self.paced = False
                    if not waiters:  # a reply the asker waits for must not be held up
                        await session.pace()
            else:
                return  # reading was handed to another task
        except asyncio.CancelledError:
            if self._reader is me:
                session.socket_ended()
            raise
        session.socket_ended()

    def read_first(self, frames: Iterable[str | bytes]) -> None:
        """Have the reader handle *frames* (received before the handshake) before the socket's."""
        self._early = deque(frames)

    def keep_reading(self, *, start: bool) -> None:
        """Make sure a task is reading, so a reply can arrive while a handler awaits it.

        With *start*, a reader is started if none runs yet (after the handshake; before it,
        the handshake reads).
        """
        if self._ended:
            return
        if self._reader is None:
            if start:
                self._reader = asyncio.get_running_loop().create_task(self.run())
        elif self._busy and self._handler_task is self._reader:
            # The reader is inside a handler that now waits for a reply: hand reading
            # to a fresh task; the handler's task stops reading when it returns.
            self._reader = asyncio.get_running_loop().create_task(self.run())
        if self._backlog_room is not None:
            # A reader paused on a full backlog must read on: the reply may be next.
            self._backlog_room.set()
            self._backlog_room = None

    def end(self, *, cancel_handler: bool) -> None:
        """The socket has ended: wake a reader paused on a full backlog, and with
        *cancel_handler* cancel the running handler (`Options.cancel_handlers_on_close`)."""
        self._ended = True
        if self._backlog_room is not None:
            self._backlog_room.set()
        if cancel_handler:
            self.cancel_handler()

    # -- the backlog ------------------------------------------------------------

    async def _hold(self, msg: Message) -> None:
        backlog = self._backlog
        if backlog is None:
            backlog = self._backlog = deque()
        backlog.append(msg)
        self._backlog_bytes += held_size(msg)
        options = self._options
        waiters = self._asks.waiters
        # Pause while the backlog is full. While an ask of this connection waits, its reply
        # may be the next frame and pausing would deadlock the asker: read on, but only up to
        # the byte budget; past it the waiting asks are given up, and then reading pauses.
        while self._busy and (
            len(backlog) >= options.inbound_backlog_size
            or self._backlog_bytes >= options.inbound_backlog_bytes
        ):
            if self._ended:
                return
            if waiters:
                if self._backlog_bytes < options.inbound_backlog_bytes:
                    return
                self._give_up_asks()
            room = self._backlog_room = asyncio.Event()
            await room.wait()

    def _give_up_asks(self) -> None:
        """Fail every ask of this connection that waits for a reply (the backlog is full)."""
        session = self._session
        limit = self._options.inbound_backlog_bytes
        logger.warning(
            "%r: the peer sent %d bytes while %d ask(s) waited for its reply: giving them up",
            session,
            self._backlog_bytes,
            len(self._asks),
            extra=fields(session.id),
        )
        self._asks.give_up(
            BacklogFullError(
                f"gave up waiting for a reply from {session.id!r}: it sent more than "
                f"inbound_backlog_bytes ({limit}) meanwhile"
            )
        )

    def _next_held(self) -> Message | None:
        """Take the next message that arrived while a handler of this connection awaited its
        ask, in order; ``None`` (and the backlog emptied) once none is left or the handler was
        cancelled."""
        backlog = self._backlog
        if not backlog or self._handler_cancelled:
            self._backlog = None
            self._backlog_bytes = 0
            return None
        if self._backlog_room is not None:
            self._backlog_room.set()
            self._backlog_room = None
        msg = backlog.popleft()
        self._backlog_bytes -= held_size(msg)
        return msg

    # -- running a handler --------------------------------------------------------

    async def _handle_within(self, seconds: float, work: Awaitable[object], msg: Message) -> None:
        """Await *work*; past *seconds* cancel it and answer with an error (`Options.handler_timeout`)."""
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                await work
        except TimeoutError:
            if not scope.expired():
                raise
            session = self._session
            logger.warning(
                "%r: the handler of %r ran past %gs: cancelled",
                session,
                msg.event,
                seconds,
                extra=fields(session.id, msg.namespace, msg.event, msg.room),
            )
            if not msg.is_native and (not msg.wait or session.answered != msg.wait):
                session.reply_error(msg, HANDLER_TIMED_OUT)

    def _handling_failed(self, msg: Message) -> None:
        """A bug of ours (handler errors are answered in `routing.run_handler`): log it, answer the ask."""
        session = self._session
        logger.exception("%r: failed to handle %r", session, msg)
        if msg.wait and session.answered != msg.wait:
            session.reply_error(msg, "internal error")

    def cancel_handler(self) -> bool:
        """Cancel the running handler (unless it is the caller's); tell whether there was one.
        Its connection should have ended: the messages held behind it are dropped."""
        task = self._handler_task
        if task is None or task.done() or task is asyncio.current_task():
            return False
        self._handler_cancelled = True
        task.cancel()
        return True

    def _cancelled_by_us(self, msg: Message) -> bool:
        """Tell whether the cancellation unwinding the current task came from `cancel_handler`;
        if so, take it back so the task reads on to the end of the socket and tears down."""
        if not self._handler_cancelled:
            return False
        task = asyncio.current_task()
        # Someone else (aiohttp's shutdown) cancelling as well: let the cancellation go on.
        if task is None or task.uncancel() != 0:
            return False
        session = self._session
        logger.info(
            "%r: cancelled the handler of %r (the connection ended)",
            session,
            msg.event,
            extra=fields(session.id, msg.namespace, msg.event, msg.room),
        )
        return True
