"""Logging: the loggers of aioneffos, the structured fields of their records, warning once.

aioneffos installs no handlers; configure `logging` as usual. Every logger is a child of
``"aioneffos"``: ``aioneffos.server`` (accepting, refusing, shutting down),
``aioneffos.conn`` (one connection: timeouts, slow consumers, bad frames),
``aioneffos.handlers`` (your handlers: their errors, unknown events, failed cleanups),
``aioneffos.client`` (the Python client: reconnecting), ``aioneffos.exchange``
(scale-out), ``aioneffos.health`` and ``aioneffos.admin``.

Records about a connection carry ``extra=`` fields for structured logs (a JSON formatter
sees them as record attributes): ``conn_id``, ``namespace``, ``event`` and ``room``.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Literal

from .errors import REFUSALS, error_text
from .outcomes import ERROR, REFUSED

handlers_logger = logging.getLogger("aioneffos.handlers")

UNKNOWN_EVENTS_REMEMBERED = 100
"""Distinct unknown event names warned about per namespace; past it, one last warning."""


def fields(
    conn_id: str, namespace: str | None = None, event: str | None = None, room: str = ""
) -> dict[str, str]:
    """Give the ``extra=`` fields of a record about *conn_id* (and *namespace*, *event*, *room*)."""
    extra = {"conn_id": conn_id}
    if namespace is not None:
        extra["namespace"] = namespace
    if event is not None:
        extra["event"] = event
    if room:
        extra["room"] = room
    return extra


class WarnOnce:
    """Remembers what it warned about, up to *limit* keys, so each is warned about once.

    The memory is bounded: a peer sending a million distinct names costs *limit* entries
    and *limit* + 1 warnings (the last one says that no more are reported).
    """

    __slots__ = ("_full", "_limit", "_seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[Hashable] = set()
        self._full = False

    def note(self, key: Hashable) -> Literal["new", "seen", "full"]:
        """Give ``"new"`` the first time *key* comes (and remember it), ``"full"`` once for
        the first key past the limit, else ``"seen"`` (which is also what every later key gets)."""
        if key in self._seen or self._full:
            return "seen"
        if len(self._seen) >= self._limit:
            self._full = True
            return "full"
        self._seen.add(key)
        return "new"


def handler_failed(
    exc: Exception, conn_id: str, namespace: str, event: str, room: str = ""
) -> Literal["refused", "error"]:
    """Log what a handler raised: a refusal (`REFUSALS`) at DEBUG, anything else at ERROR
    with its traceback, so a bug never looks like a deliberate refusal. Give which it was."""
    extra = fields(conn_id, namespace, event, room)
    if isinstance(exc, REFUSALS):
        handlers_logger.debug(
            "namespace %r event %r on %r: refused: %s",
            namespace,
            event,
            conn_id,
            error_text(exc),
            extra=extra,
        )
        return REFUSED
    handlers_logger.error(
        "namespace %r event %r on %r: handler raised %s",
        namespace,
        event,
        conn_id,
        error_text(exc),
        exc_info=exc,
        extra=extra,
    )
    return ERROR


def unknown_event(memory: WarnOnce, conn_id: str, namespace: str, event: str) -> None:
    """Warn, once per namespace and event name, that *event* has no handler."""
    seen = memory.note(event)
    if seen == "new":
        handlers_logger.warning(
            "namespace %r has no handler for event %r (first received on %r): dropped, or answered"
            " 'unknown event' when asked",
            namespace,
            event,
            conn_id,
            extra=fields(conn_id, namespace, event),
        )
    elif seen == "full":
        handlers_logger.warning(
            "namespace %r: more than %d unknown event names; no more are reported",
            namespace,
            UNKNOWN_EVENTS_REMEMBERED,
            extra=fields(conn_id, namespace, event),
        )
