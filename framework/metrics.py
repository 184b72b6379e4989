"""Prometheus metrics of a server: ``metrics.setup(app, server)`` serves ``/metrics``.

It needs the ``metrics`` extra (``pip install 'aioneffos[metrics]'``, the official
``prometheus-client``); nothing else of aioneffos imports it. `ServerMetrics` observes the
server, keeping plain integers per message with bounded labels (`counting.Counts`), and is
a Prometheus collector: at each scrape it reads them, and what the server keeps anyway
(connections, rooms, queues, the exchange's counters), into metric families.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from aiohttp import web

try:
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.aiohttp import make_aiohttp_handler
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "aioneffos.framework.metrics needs prometheus-client 0.24 or later: pip install 'aioneffos[metrics]'"
    ) from exc

from .admin import Check, token_check
from .counting import ANSWERS, BUCKETS, CANCELLED, MAX_EVENT_LABELS, NO_ANSWER, OTHER, Counts
from .exchange import ExchangeHealth
from .handshake import run_callback
from .server import Server


class ServerMetrics(Counts):
    """Prometheus metrics of one `Server`: it counts (`Counts`, the server's observer) and is a
    collector for a registry, read at each scrape."""

    def describe(self) -> Iterator[Metric]:
        """Give every metric family, without samples (for the registry's duplicate check)."""
        for family in self._families():
            family.samples = []
            yield family

    def collect(self) -> Iterator[Metric]:
        """Give every metric family with its current samples."""
        yield from self._families()

    def _families(self) -> Iterator[Metric]:
        yield from self._connection_families()
        yield from self._message_families()
        yield from self._exchange_families()

    def _connection_families(self) -> Iterator[Metric]:
        server = self.server
        conns = list(server.connections)
        yield GaugeMetricFamily("aioneffos_connections", "Live connections of this process.", len(conns))
        yield CounterMetricFamily(
            "aioneffos_connections_opened",
            "Websocket connections upgraded (before the handshake).",
            self.opened_count,
        )
        closed = CounterMetricFamily(
            "aioneffos_connections_closed",
            "Connections ended, by close code and reason (who closed, and why).",
            labels=("code", "reason"),
        )
        for (code, reason), count in sorted(self.closed_count.items()):
            closed.add_metric((code, reason), count)
        yield closed
        yield GaugeMetricFamily(
            "aioneffos_server_accepting",
            "1 while the server accepts connections, 0 once it closes.",
            1 if server.accepting else 0,
        )
        by_namespace = ("namespace",)
        members = GaugeMetricFamily(
            "aioneffos_namespace_connections", "Connections to each namespace.", labels=by_namespace
        )
        for name in sorted(server.namespaces):
            members.add_metric((name,), len(server.namespace_connections(name)))
        yield members
        rooms: dict[str, list[int]] = {name: [0, 0] for name in server.namespaces}
        for (name, _), joined in server.rooms.items():
            seen = rooms.setdefault(name, [0, 0])
            seen[0] += 1
            seen[1] += len(joined)
        room_gauge = GaugeMetricFamily(
            "aioneffos_rooms", "Rooms with members, per namespace.", labels=by_namespace
        )
        member_gauge = GaugeMetricFamily(
            "aioneffos_room_members",
            "Room memberships (a connection in two rooms counts twice).",
            labels=by_namespace,
        )
        for name, (count, joined_count) in sorted(rooms.items()):
            room_gauge.add_metric((name,), count)
            member_gauge.add_metric((name,), joined_count)
        yield room_gauge
        yield member_gauge
        for name, doc, value in (
            ("asks_in_flight", "Asks waiting for a peer's reply, on every connection.",
             sum(conn.asks_in_flight for conn in conns)),
            ("outbox_queued_frames", "Frames waiting in the outbound queues of every connection.",
             sum(conn.queued_frames for conn in conns)),
            ("outbox_queued_bytes", "Bytes waiting in the outbound queues of every connection.",
             sum(conn.queued_bytes for conn in conns)),
            ("outbox_peak_frames", "The highest high-water mark, in frames, of a live connection's queue.",
             max((conn.peak_queued_frames for conn in conns), default=0)),
            ("outbox_peak_bytes", "The highest high-water mark, in bytes, of a live connection's queue.",
             max((conn.peak_queued_bytes for conn in conns), default=0)),
        ):  # fmt: skip
            yield GaugeMetricFamily(f"aioneffos_{name}", doc, value)

    def _message_families(self) -> Iterator[Metric]:
        ns_event = ("namespace", "event")
        received = CounterMetricFamily(
            "aioneffos_messages_received", "Messages from peers, by namespace and event.", labels=ns_event
        )
        sent = CounterMetricFamily(
            "aioneffos_messages_sent",
            "Messages to peers (emits, broadcasts per recipient, asks, replies), by namespace and event.",
            labels=ns_event,
        )
        answered = CounterMetricFamily(
            "aioneffos_asks_answered",
            "Peers' asks this server answered, by outcome: reply, empty, error, timeout, none, cancelled.",
            labels=(*ns_event, "outcome"),
        )
        answer_seconds = HistogramMetricFamily(
            "aioneffos_answer_seconds", "Seconds this server took to answer a peer's ask.", labels=ns_event
        )
        asked = CounterMetricFamily(
            "aioneffos_asks_sent",
            "This server's asks, by outcome: reply, error, timeout, closed, no_recipient, failed, cancelled.",
            labels=(*ns_event, "outcome"),
        )
        ask_seconds = HistogramMetricFamily(
            "aioneffos_ask_seconds", "Seconds peers took to answer this server's asks.", labels=ns_event
        )
        errors = CounterMetricFamily(
            "aioneffos_handler_errors",
            "Handler exceptions: kind 'error' for bugs (logged at ERROR), 'refusal' for Refused,"
            " PermissionError and ValueError.",
            labels=(*ns_event, "kind"),
        )
        unknown = CounterMetricFamily(
            "aioneffos_unknown_events",
            "Messages nothing handles (no handler for the event, or a namespace not served).",
            labels=("namespace",),
        )
        for ns_name, ns in [*sorted(self.namespaces.items()), (OTHER, self.other)]:
            if ns.unknown:
                unknown.add_metric((ns_name,), ns.unknown)
            for event, counts in sorted(ns.events.items()):
                labels = (ns_name, event)
                if counts.received:
                    received.add_metric(labels, counts.received)
                span = self.span
                rows = [counts.answers[i * span : (i + 1) * span] for i in range(len(ANSWERS))]
                by_outcome = [sum(row) for row in rows]
                # Every answer but "none" and "cancelled" sent a reply (or an error reply).
                replies = sum(by_outcome) - by_outcome[NO_ANSWER] - by_outcome[CANCELLED]
                if counts.sent + replies:
                    sent.add_metric(labels, counts.sent + replies)
                for outcome, count in zip(ANSWERS, by_outcome, strict=True):
                    if count:
                        answered.add_metric((*labels, outcome), count)
                for outcome, count in sorted(counts.asks.items()):
                    asked.add_metric((*labels, outcome), count)
                if counts.errors:
                    errors.add_metric((*labels, "error"), counts.errors)
                if counts.refusals:
                    errors.add_metric((*labels, "refusal"), counts.refusals)
                if any(by_outcome):
                    columns = [sum(column) for column in zip(*rows, strict=True)]
                    self._add_histogram(answer_seconds, labels, columns, counts.answer_sum)
                if counts.asks:
                    self._add_histogram(ask_seconds, labels, counts.ask_buckets, counts.ask_sum)
        yield from (received, sent, answered, answer_seconds, asked, ask_seconds, errors, unknown)

    def _add_histogram(
        self, family: HistogramMetricFamily, labels: Sequence[str], counts: list[int], total: float
    ) -> None:
        buckets = []
        cumulative = 0
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric(labels, buckets, total)

    def _exchange_families(self) -> Iterator[Metric]:
        exchange = self.server.exchange
        health = GaugeMetricFamily(
            "aioneffos_exchange_health",
            "1 for the exchange's state (up, degraded, down), 0 for the others.",
            labels=("state",),
        )
        current = exchange.health
        for state in ExchangeHealth:
            health.add_metric((state.value,), 1 if state is current else 0)
        yield health
        for name, doc in _EXCHANGE_COUNTERS:
            value = getattr(exchange, name, None)
            if isinstance(value, int):
                yield CounterMetricFamily(f"aioneffos_exchange_{name}", doc, value)
        queued = getattr(exchange, "queued", None)
        if isinstance(queued, int):
            yield GaugeMetricFamily(
                "aioneffos_exchange_queued", "Messages waiting to go to the broker.", queued
            )
        peers = getattr(exchange, "peers", None)
        if peers is not None:
            yield GaugeMetricFamily(
                "aioneffos_exchange_peers", "Other nodes this node hears from.", len(peers)
            )


_EXCHANGE_COUNTERS = (
    ("published", "Messages handed to the broker for the other nodes."),
    ("received", "Broadcasts and closes received from other nodes."),
    ("dropped", "Messages for other nodes that never left this node (link down, queue full)."),
    ("missed", "Messages of other nodes this node should have received but did not (counted by numbering)."),
    ("refused", "Messages refused for being over the broker's size limit."),
)


def setup(
    app: web.Application,
    server: Server,
    *,
    path: str = "/metrics",
    registry: CollectorRegistry | None = None,
    token: str | None = None,
    check: Check | None = None,
    max_event_labels: int = MAX_EVENT_LABELS,
    buckets: Sequence[float] = BUCKETS,
) -> ServerMetrics:
    """Observe *server* and serve its metrics (and the rest of *registry*) at ``GET`` *path*.

    *registry* is prometheus-client's default one unless given (the process and GC
    metrics come along, and your own); the collector is removed from it when *app* cleans
    up. The exposition follows the scraper's ``Accept`` header (OpenMetrics or text),
    compressed when asked. Open to anyone by default, like ``/healthz``: give *token*
    (``Authorization: Bearer``, at least 16 characters) or *check* to restrict it.

    Raise `RuntimeError` when *server* is observed already or has connections, `ValueError`
    for a short token or both *token* and *check*, and prometheus-client's `ValueError`
    when *registry* has these metrics already (a second server: give it its own registry).
    """
    if token is not None and check is not None:
        raise ValueError("give the metrics endpoint a token or a check, not both")
    allowed = check if token is None else token_check(token, owner="metrics")
    target = REGISTRY if registry is None else registry
    metrics = ServerMetrics(server, max_event_labels=max_event_labels, buckets=buckets)
    target.register(metrics)
    try:
        server.observe(metrics)
    except RuntimeError:
        target.unregister(metrics)
        raise
    expose = make_aiohttp_handler(target)

    async def serve(request: web.Request) -> web.StreamResponse:
        if allowed is not None and await run_callback(allowed, request) is not True:
            return web.Response(
                status=401,
                text="the metrics need a valid token (Authorization: Bearer ...)\n",
                headers={"WWW-Authenticate": 'Bearer realm="aioneffos metrics"'},
            )
        return await expose(request)

    async def forget(_: web.Application) -> None:
        target.unregister(metrics)

    app.router.add_get(path, serve)
    app.on_cleanup.append(forget)
    return metrics
