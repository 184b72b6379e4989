"""`BusExchange`: scale-out over a pub/sub broker, given a way to make a `Link` to it.

One broker link per node (`BusSession`), never one per websocket client. The node
subscribes to the channels it has local recipients for (namespaces, rooms, connection
ids; see `Channels`) plus its own node channel and the cluster channel. The server
delivers broadcasts to its own connections itself; the exchange publishes them once for
the other nodes, which deliver with `LocalNode.deliver` (encoded once). This module
composes the exchange and sorts what arrives; its parts are `asks` (asks and counts
across nodes, docs/protocol.md#cluster-asks), `peers` (which nodes are there, from their
hello, beats and bye), `presence` (rosters and room changes), `numbering` (what was
missed) and `session` (the link and its bounded queue). While the broker is away, local
traffic goes on and what other nodes should have received is dropped (pub/sub is
at-most-once) and counted in `BusExchange.dropped` (docs/protocol.md#bus-delivery).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from ..exchange import ClusterCount, ExchangeHealth, Exclusion, LocalNode, Target
from ..message import Message
from ..presence import PresenceEvent, Roster
from . import envelope
from .asks import BusAsks
from .envelope import Envelope, EnvelopeKind
from .link import HealthListener, Link, LinkSettings
from .node import BusNode
from .numbering import Numbering
from .peers import Peers
from .presence import PRESENCE_KINDS, BusPresence
from .session import BusSession

logger = logging.getLogger("aioneffos.exchange")

CHANNEL_CACHE = 4096
"""Channel names a node remembers for its broadcasts (then it starts over)."""
LinkFactory = Callable[[LinkSettings], Link]
"""Makes a new, unopened link to the broker (called for every connect attempt)."""


class BusExchange:
    """An `Exchange` over a pub/sub broker, whose links *make_link* makes.

    *broker* names the broker in logs (a URL without credentials). *prefix* namespaces
    the channels (several apps can share a broker). Reconnection waits *reconnect_delay*
    seconds, doubling up to *reconnect_max* (with jitter). Every *beat_interval* seconds
    the node announces itself and checks the link; a node not heard from for
    *beat_misses* intervals is forgotten (by default 1 s and 3: a crashed node is forgotten
    2 to 3 s after its crash), unless this node's own link is down (then it cannot hear
    anyone). A count waits at most *count_timeout* seconds for the other nodes. At most
    *max_pending* messages wait for the broker: with
    ``overflow="backpressure"`` (the default) publishers wait for room from half of it on
    (`drain`, at most *wait_timeout* seconds; connections whose handlers published are
    read on only after it), and past it, or with ``overflow="drop"``, the newest message is
    dropped and counted. A message over *max_payload* bytes (or the broker's own limit,
    NATS's ``max_payload``, if lower) raises `PayloadTooLargeError` and is not sent.
    """

    def __init__(
        self,
        make_link: LinkFactory,
        broker: str,
        *,
        prefix: str = "aioneffos",
        reconnect_delay: float = 0.1,
        reconnect_max: float = 5.0,
        connect_timeout: float = 5.0,
        beat_interval: float = 1.0,
        beat_misses: int = 3,
        count_timeout: float = 0.5,
        max_pending: int = 10_000,
        max_batch: int = 256,
        overflow: str = "backpressure",
        wait_timeout: float = 5.0,
        max_payload: int | None = None,
    ) -> None:
        if not beat_interval > 0:
            raise ValueError(f"beat_interval must be > 0, got {beat_interval!r}")
        if not (isinstance(beat_misses, int) and beat_misses >= 1):
            raise ValueError(f"beat_misses must be an int >= 1, got {beat_misses!r}")
        self.channels = envelope.Channels(prefix)
        self.broker = broker
        """The broker, as logs name it."""
        self.connect_timeout = connect_timeout
        self.beat_interval = beat_interval
        self.beat_misses = beat_misses
        self.count_timeout = count_timeout
        self._make_link = make_link
        self._numbering = Numbering()
        self._session = BusSession(
            self._new_link,
            self._on_envelope,
            on_up=self._on_up,
            on_tick=self._on_tick,
            broker=broker,
            reconnect_delay=reconnect_delay,
            reconnect_max=reconnect_max,
            connect_timeout=connect_timeout,
            tick=beat_interval,
            max_pending=max_pending,
            max_batch=max_batch,
            overflow=overflow,
            wait_timeout=wait_timeout,
            max_payload=max_payload,
            stamp=self._numbering.stamp,
        )
        self._bus = BusNode(self.channels, self._session)
        self._warned_versions: set[int | None] = set()
        self._channel_of: dict[tuple[str, str, str], str] = {}
        """The channel of each (to, namespace, room) published to lately (`CHANNEL_CACHE` at most)."""
        self._own_publish = b"\x00"  # never a prefix before start(): version 0 does not exist
        self._roster = BusPresence(self._bus, count_timeout=count_timeout, retry_after=2 * beat_interval)
        self._peers = Peers(
            self._bus, self._roster.forget, beat_interval=beat_interval, beat_misses=beat_misses
        )
        self._asks = BusAsks(self._bus, self._peers, count_timeout=count_timeout)

    def _new_link(self) -> Link:
        settings = LinkSettings(
            self._bus.id, self.connect_timeout, self.beat_interval, self._session.configured_max_payload
        )
        return self._make_link(settings)

    # -- state --------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Tell whether the broker link is up and subscribed (false while reconnecting)."""
        return self._session.healthy

    @property
    def health(self) -> ExchangeHealth:
        """Give how well the other nodes are reached: up, degraded (queue backing up or
        dropping) or down (broker unreachable)."""
        return self._session.health

    @property
    def dropped(self) -> int:
        """Count the messages for other nodes not sent to the broker: the link was down, the
        queue full, or their publish failed."""
        return self._session.dropped

    @property
    def published(self) -> int:
        """Count the broadcasts, closes and asks handed to the broker."""
        return self._session.published

    @property
    def refused(self) -> int:
        """Count the messages refused for being over the broker's size limit."""
        return self._session.refused

    @property
    def queued(self) -> int:
        """Count the messages waiting for the broker now."""
        return self._session.queued

    @property
    def max_payload(self) -> int | None:
        """Give the largest envelope this node publishes (``None``: no limit known yet)."""
        return self._session.max_payload

    @property
    def congested(self) -> bool:
        """Tell whether publishers should wait (`drain`): backpressure, queue half full or more."""
        return self._session.congested

    async def flushed(self, timeout: float | None = None) -> bool:
        """Wait until every queued message is handed to the broker (or dropped); False if not
        within *timeout*."""
        return await self._session.flushed(timeout)

    async def drain(self) -> None:
        """Wait until the outgoing queue is less than half full, at most *wait_timeout* seconds."""
        await self._session.room()

    @property
    def received(self) -> int:
        """Count the broadcasts and closes received from other nodes."""
        return self._numbering.received

    @property
    def missed(self) -> int:
        """Count the broadcasts and closes other nodes published on channels this node wanted
        that never arrived here (their numbers were skipped: this node's link was down
        meanwhile, or the broker dropped them); each is counted once, by the node that missed it."""
        return self._numbering.missed

    @property
    def peers(self) -> Collection[str]:
        """Give the ids of the other nodes heard from recently."""
        return self._peers.ids

    def add_health_listener(self, listener: HealthListener) -> None:
        """Call *listener(healthy)* on every health transition (it must not block)."""
        self._session.add_health_listener(listener)

    async def wait_peers(self, count: int, timeout: float | None = None) -> bool:
        """Wait until at least *count* other nodes are known; False if not within *timeout*."""
        return await self._peers.wait(count, timeout)

    async def synced(self, timeout: float | None = None) -> bool:
        """Wait until every subscription asked for so far is in effect; False if not within *timeout*."""
        return await self._session.synced(timeout)

    # -- lifecycle ----------------------------------------------------------------

    async def start(self, node: LocalNode) -> None:
        """Connect to the broker (waiting up to *connect_timeout*) and keep the link up.

        Raise `RuntimeError` when this exchange already serves another server (one per node).
        """
        if self._bus.served is not None:
            raise RuntimeError("this exchange already serves a server: give each Server its own")
        self._bus.served = node
        self._bus.id = node.node_id
        self._own_publish = envelope.head_prefix(EnvelopeKind.PUBLISH, self._bus.id)
        self._numbering.start(self._bus.id)
        self._session.want(self.channels.node(self._bus.id))
        self._session.want(self.channels.all())
        self._bus.spawn(self._peers.watch())
        if not await self._session.start(f"node {self._bus.id}"):
            logger.error(
                "node %s: broker %s unreachable; serving local connections only, retrying in background",
                self._bus.id,
                self.broker,
            )

    async def stop(self) -> None:
        """Say goodbye to the other nodes, then close the link."""
        self._bus.send(self.channels.all(), Envelope(EnvelopeKind.BYE, self._bus.id))
        await self._session.stop()
        self._bus.background.cancel()

    def _presence(self, kind: str) -> Envelope:
        return Envelope(
            kind, self._bus.id, count=self._bus.local().total_connections, roster=self._roster.version
        )

    def _on_up(self) -> None:
        self._numbering.new_epoch()
        self._peers.heard_again()
        self._bus.send(self.channels.all(), self._presence(EnvelopeKind.HELLO))

    def _on_tick(self) -> None:
        self._bus.send(self.channels.all(), self._presence(EnvelopeKind.BEAT))
        self._numbering.flush_warnings()

    # -- the Exchange protocol ------------------------------------------------------

    def subscribe(self, target: Target) -> None:
        """Subscribe to the channel of *target* (now if the link is up, else when it is)."""
        self._session.want(self.channels.name(target))

    def unsubscribe(self, target: Target) -> None:
        """Unsubscribe from the channel of *target*."""
        self._session.unwant(self.channels.name(target))
        self._numbering.forget(target)

    def publish(self, msg: Message, exclusion: Exclusion) -> None:
        """Publish *msg* once for the other nodes; raise `PayloadTooLargeError` when it is too large."""
        key = (msg.to, msg.namespace, msg.room)
        channel = self._channel_of.get(key)
        if channel is None:
            if len(self._channel_of) >= CHANNEL_CACHE:
                self._channel_of.clear()
            channel = self._channel_of[key] = self.channels.name(Target.of_message(msg))
        data = envelope.encode(Envelope(EnvelopeKind.PUBLISH, self._bus.id, msg, exclusion))
        self._session.send(channel, data, wanted=lambda: self._roster.reach(msg))

    def close_connection(self, conn_id: str, code: int, reason: str) -> None:
        """Publish a forced close of id *conn_id* for the other nodes."""
        env = Envelope(EnvelopeKind.CLOSE, self._bus.id, Message(to=conn_id), code=code, reason=reason)
        channel = self.channels.name(Target.of_conn(conn_id))
        self._session.send(channel, envelope.encode(env), wanted=lambda: self._roster.knows(conn_id))

    async def ask(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask the matching connections of every node; give the first reply.

        Raise the typed error of an error reply; `NoRecipientError` as soon as no node can
        deliver it: Redis tells how many nodes got the ask and each answers "none", NATS
        only tells when no node subscribes at all (an unknown id); else `AskTimeoutError`
        after *timeout*.
        """
        return await self._asks.ask(msg, exclusion, timeout)

    async def count_connections(self) -> ClusterCount:
        """Count the connections of the cluster, asking every node (answers within
        *count_timeout*, or `ask_timeout` if shorter, count).

        A node that does not answer in time counts with its last known figure and makes the
        count stale (`ClusterCount.missing`); while the link is down no node is asked, and
        the count is this node's plus the last known ones, stale.
        """
        return await self._asks.count()

    # -- presence (scaleout.presence) ------------------------------------------------

    def member_changed(self, event: PresenceEvent) -> None:
        """Publish a change of this node's roster for the other nodes."""
        self._roster.member_changed(event)

    async def roster(self, namespace: str) -> Roster:
        """Give the other nodes' connections to *namespace* (see `BusPresence.roster`)."""
        return await self._roster.roster(namespace)

    async def change_room(
        self, conn_id: str, namespace: str, room: str, *, join: bool, timeout: float
    ) -> int:
        """Make the other nodes' connections with id *conn_id* join or leave *room* (see
        `BusPresence.change_room`)."""
        return await self._roster.change_room(conn_id, namespace, room, join=join, timeout=timeout)

    # -- receiving ------------------------------------------------------------------

    def _on_envelope(self, data: bytes) -> None:
        """Handle one message from the bus; a bad one is logged and skipped, never raised."""
        if data.startswith(self._own_publish):
            return  # our own broadcast back from Redis (no "no echo" there): delivered already
        try:
            env = envelope.decode(data)
        except envelope.IncompatibleEnvelopeError as exc:
            first = exc.version not in self._warned_versions
            self._warned_versions.add(exc.version)
            logger.log(logging.WARNING if first else logging.DEBUG, "skipped a bus message: %s", exc)
            return
        try:
            if env.origin == self._bus.id:
                self._asks.echoed(env)  # our own ask or count back (Redis has no "no echo")
            else:
                self._dispatch(env)
        except Exception:
            logger.exception("node %s: failed to handle %s from %s", self._bus.id, env.kind, env.origin)

    def _dispatch(self, env: Envelope) -> None:
        kind, node = env.kind, self._bus.local()
        if kind == EnvelopeKind.PUBLISH:
            self._numbering.received_from(env)
            node.deliver(env.message, env.exclusion)
        elif kind == EnvelopeKind.ASK:
            self._bus.spawn(self._asks.answer(env))
        elif kind in (EnvelopeKind.REPLY, EnvelopeKind.NONE):
            if not self._roster.answered(env):
                self._asks.replied(env)
        elif kind == EnvelopeKind.CLOSE:
            self._numbering.received_from(env)
            node.close_local(env.message.to, env.code or envelope.DEFAULT_CLOSE_CODE, env.reason)
        elif kind == EnvelopeKind.COUNT_REQUEST:
            self._asks.answer_count(env)
        elif kind in (EnvelopeKind.COUNT, EnvelopeKind.HELLO, EnvelopeKind.BEAT):
            self._peers.seen(env.origin, env.count)
            if kind == EnvelopeKind.COUNT:
                self._asks.counted(env)
            else:
                self._roster.seen(env.origin, env.roster)
            if kind == EnvelopeKind.HELLO:
                self._bus.send(self.channels.node(env.origin), self._presence(EnvelopeKind.BEAT))
        elif kind == EnvelopeKind.BYE:
            self._peers.forget(env.origin, "left")
        elif kind in PRESENCE_KINDS:
            self._roster.receive(env)
        else:
            logger.debug("node %s: skipped unknown bus message kind %r", self._bus.id, kind)
