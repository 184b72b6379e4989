"""Counting what a server does, for metrics: plain integers per message, with bounded labels.

`Counts` is an `Observer` (`Server.observe`): per message it adds to integers kept by
namespace and event; a metrics exporter reads them when scraped (`aioneffos.framework.metrics`
for Prometheus). It imports no metrics library.

Label values are bounded whatever peers send. Namespaces are those the server serves,
anything else is `OTHER`. A message from a peer is labelled with its event only when the
namespace declares it (or it is a system event); any other name is `OTHER`. Events this
server sends or asks are labelled with the first `MAX_EVENT_LABELS` names seen per
namespace (besides the declared ones), then `OTHER`. Close codes are the standard ones
(1000-1015) or ``other``; close reasons come from a fixed list (`close_labels`).
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING

from .errors import (
    RATE_LIMITED,
    AskTimeoutError,
    BacklogFullError,
    NeffosError,
    NoRecipientError,
    PayloadTooLargeError,
    WriteClosedError,
)
from .events import ON_ANY_EVENT, ON_NATIVE_MESSAGE, SYSTEM_EVENTS
from .outcomes import EMPTY, ERROR, LIMITED, NONE, REFUSED, REPLY, UNKNOWN, Outcome
from .protocol import (
    ADMIN_DISCONNECT,
    HANDSHAKE_TIMEOUT,
    NO_HANDSHAKE,
    READ_TIMEOUT,
    SERVER_SHUTDOWN,
    SLOW_CONSUMER,
    TOO_MANY_CONNECTIONS,
    CloseCode,
)

if TYPE_CHECKING:
    from .conn import Conn
    from .message import Message
    from .server import Server

OTHER = "_other"
"""The label of every namespace or event name beyond the bounded set (see the module docstring)."""
MAX_EVENT_LABELS = 100
"""Names of events sent or asked that get a label of their own, per namespace, besides the declared ones."""
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds, in seconds, of the buckets of the latency histograms."""

_CLOSE_REASONS = {
    SLOW_CONSUMER: "slow_consumer",
    RATE_LIMITED: "rate_limit",
    READ_TIMEOUT: "read_timeout",
    TOO_MANY_CONNECTIONS: "too_many_connections",
    SERVER_SHUTDOWN: "shutdown",
    HANDSHAKE_TIMEOUT: "handshake",
    NO_HANDSHAKE: "handshake",
    ADMIN_DISCONNECT: "admin",
}
ANSWERS = ("reply", "empty", "none", "error", "timeout", "cancelled")
"""The outcomes of a peer's ask (`aioneffos_asks_answered_total`), in `EventCounts.answers` order."""
_REPLY, _EMPTY, NO_ANSWER, _ERROR, _TIMEOUT, CANCELLED = range(6)
_ANSWER_OF: dict[Outcome | None, int] = {
    REPLY: _REPLY,
    EMPTY: _EMPTY,
    NONE: NO_ANSWER,
    None: NO_ANSWER,
    ERROR: _ERROR,
    REFUSED: _ERROR,
    LIMITED: _ERROR,
    UNKNOWN: _ERROR,
}
_SYSTEM = SYSTEM_EVENTS | {ON_ANY_EVENT, ON_NATIVE_MESSAGE}
_clock = time.perf_counter


class EventCounts:
    """The counters of one namespace and event label.

    The peers' asks are counted by outcome and latency bucket in one list (`answers`: row
    per outcome of `ANSWERS`, column per bucket, the last one +Inf; not cumulative), so an
    answer costs one increment; their count per outcome, the histogram and the replies sent
    are summed from it at scrape time. This server's asks are rarer: a dict and a list.
    """

    __slots__ = (
        "answer_sum",
        "answers",
        "ask_buckets",
        "ask_sum",
        "asks",
        "errors",
        "received",
        "refusals",
        "sent",
    )

    def __init__(self, buckets: int) -> None:
        self.received = 0
        self.sent = 0
        """Emits, broadcasts and asks sent; replies are counted in `answers`."""
        self.errors = 0
        self.refusals = 0
        self.answers = [0] * (len(ANSWERS) * (buckets + 1))
        self.answer_sum = 0.0
        self.asks: dict[str, int] = {}
        self.ask_buckets = [0] * (buckets + 1)
        self.ask_sum = 0.0


class NamespaceCounts:
    """The labels of one namespace: declared events (for messages in) and every label so far."""

    __slots__ = ("declared", "events", "other", "unknown")

    def __init__(self, declared: Iterable[str], buckets: int) -> None:
        self.declared = {name: EventCounts(buckets) for name in {*declared, *_SYSTEM}}
        self.events = dict(self.declared)
        self.other = self.events[OTHER] = EventCounts(buckets)
        self.unknown = 0


class Counts:
    """What one `Server` did, counted as it happens: an `Observer`; see the module docstring."""

    def __init__(
        self, server: Server, *, max_event_labels: int = MAX_EVENT_LABELS, buckets: Sequence[float] = BUCKETS
    ) -> None:
        self.server = server
        self.bounds = tuple(sorted(buckets))
        self.span = len(self.bounds) + 1  # the columns of a row of `EventCounts.answers`
        self._max_labels = max_event_labels
        size = len(self.bounds)
        self.namespaces = {name: NamespaceCounts(events, size) for name, events in server.handlers.items()}
        self.other = NamespaceCounts((), size)
        self.opened_count = 0
        self.closed_count: dict[tuple[str, str], int] = {}

    # -- the observer (called by the server) -----------------------------------------------

    def opened(self, conn: Conn) -> None:
        """Count an upgraded connection."""
        self.opened_count += 1

    def closed(self, conn: Conn, accepted: bool) -> None:
        """Count a connection that ended, by close code and reason."""
        key = close_labels(conn, accepted)
        self.closed_count[key] = self.closed_count.get(key, 0) + 1

    def routed(
        self, conn: Conn, msg: Message, work: Awaitable[Outcome | None] | None
    ) -> Awaitable[object] | None:
        """Count a message from a peer; give an awaitable of *work* that counts its outcome."""
        ns = self.namespaces.get(msg.namespace, self.other)
        counts = ns.declared.get(msg.event, ns.other)
        counts.received += 1
        if msg.wait and msg.err is None:
            if work is not None:
                return self._answer(conn, ns, counts, work)
            # Answered at once: a namespace not connected, a room not joined.
            counts.answers[_ERROR * self.span] += 1
            return None
        return None if work is None else self._handle(ns, counts, work)

    def sent(self, namespace: str, event: str, count: int) -> None:
        """Count *count* messages of *event* sent to peers."""
        self._outgoing(namespace, event).sent += count

    async def asking(self, msg: Message, reply: Awaitable[Message]) -> Message:
        """Await this server's ask; count its outcome and time it."""
        counts = self._outgoing(msg.namespace, msg.event)
        started = _clock()
        outcome = "failed"
        try:
            answer = await reply
            outcome = "reply"
            return answer
        except AskTimeoutError:
            outcome = "timeout"
            raise
        except WriteClosedError:
            outcome = "closed"
            raise
        except NoRecipientError:
            outcome = "no_recipient"
            raise
        except (BacklogFullError, PayloadTooLargeError):
            raise
        except NeffosError:
            outcome = "error"  # the typed error of an error reply
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            seconds = _clock() - started
            counts.asks[outcome] = counts.asks.get(outcome, 0) + 1
            counts.ask_buckets[bisect_left(self.bounds, seconds)] += 1
            counts.ask_sum += seconds

    async def _handle(
        self, ns: NamespaceCounts, counts: EventCounts, work: Awaitable[Outcome | None]
    ) -> None:
        outcome = await work
        if outcome == REPLY:  # a handler's return value goes back even to a plain emit
            counts.sent += 1
        elif outcome is not None and outcome != NONE:
            if outcome in (ERROR, REFUSED):  # and so does its error
                counts.sent += 1
            self._failed(ns, counts, outcome)

    async def _answer(
        self, conn: Conn, ns: NamespaceCounts, counts: EventCounts, work: Awaitable[Outcome | None]
    ) -> None:
        started = _clock()
        try:
            outcome = await work
        except BaseException as exc:
            self._unfinished(conn, counts, started, exc)
            raise
        seconds = _clock() - started
        answer = _ANSWER_OF[outcome]
        counts.answers[answer * self.span + bisect_left(self.bounds, seconds)] += 1
        counts.answer_sum += seconds
        if answer == _ERROR:
            self._failed(ns, counts, outcome)

    def _unfinished(self, conn: Conn, counts: EventCounts, started: float, exc: BaseException) -> None:
        """Count an ask whose handling raised: cancelled (past `Options.handler_timeout`, it is
        answered with an error; when its connection ended, by no one), or a bug of the
        framework's (the inbound loop answers ``internal error``)."""
        seconds = _clock() - started
        answer = _ERROR
        if isinstance(exc, asyncio.CancelledError):
            lost = conn.is_closed or conn.socket_lost or conn.options.handler_timeout is None
            answer = CANCELLED if lost else _TIMEOUT
        counts.answers[answer * self.span + bisect_left(self.bounds, seconds)] += 1
        counts.answer_sum += seconds

    def _failed(self, ns: NamespaceCounts, counts: EventCounts, outcome: Outcome | None) -> None:
        if outcome == ERROR:
            counts.errors += 1
        elif outcome == REFUSED:
            counts.refusals += 1
        elif outcome == UNKNOWN:
            ns.unknown += 1

    def _outgoing(self, namespace: str, event: str) -> EventCounts:
        ns = self.namespaces.get(namespace, self.other)
        counts = ns.events.get(event)
        if counts is None:
            if len(ns.events) - len(ns.declared) > self._max_labels:  # `other` is one of them
                return ns.other
            counts = ns.events[event] = EventCounts(len(self.bounds))
        return counts


def close_labels(conn: Conn, accepted: bool) -> tuple[str, str]:
    """Give the code and reason labels of a connection that ended: the code this side sent
    when it closed, else the peer's (1006 when it vanished)."""
    if conn.closed_with is not None:
        code, text = conn.closed_with
        reason = _CLOSE_REASONS.get(text)
        if reason is None:
            reason = "application" if accepted else "refused"  # a refusal by on_connect
        return _code_label(code), reason
    theirs = conn.close_code
    if theirs == CloseCode.MESSAGE_TOO_BIG:
        return _code_label(theirs), "message_too_big"  # aiohttp closes it, past Options.max_message_size
    return _code_label(theirs), "peer"


def _code_label(code: int | None) -> str:
    if code is None:  # ended without a close frame either way: RFC 6455 calls that 1006
        return "1006"
    return str(code) if CloseCode.NORMAL <= code <= 1015 else "other"
