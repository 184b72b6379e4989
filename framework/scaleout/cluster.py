"""`BusExchange`: scale-out over a pub/sub broker, given a way to make a `Link` to it.

One broker link per node (`BusSession`), never one per websocket client. The node
subscribes to the channels it has local recipients for (namespaces, rooms, connection
ids; see `Channels`) plus its own node channel and the cluster channel. The server
delivers broadcasts to its own connections itself; the exchange publishes them once for
the other nodes, which deliver with `LocalNode.deliver` (encoded once). Asks carry the
asking node and its token, and answers come back on that node's channel
(docs/protocol.md#cluster-asks). Nodes announce themselves on the cluster channel
(presence), which `count_connections` relies on. While the broker is away, local traffic
goes on and what other nodes should have received is dropped (pub/sub is at-most-once)
and counted in `BusExchange.dropped` (docs/protocol.md#bus-delivery). The outgoing queue
is bounded (`BusSession`): publishers wait for room (`drain`), or the newest message is
dropped and counted; a message over the broker's limit raises `PayloadTooLargeError`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Collection, Coroutine
from typing import Any

import attrs

from ..errors import (
    AskTimeoutError,
    NeffosError,
    NoRecipientError,
    PayloadTooLargeError,
    WriteClosedError,
    error_text,
)
from ..exchange import ClusterCount, ExchangeHealth, Exclusion, LocalNode, Target
from ..message import Message
from ..presence import PresenceEvent, Roster
from . import envelope
from .envelope import Envelope, EnvelopeKind
from .gathers import AskGather, CountGather
from .link import HealthListener, Link, LinkSettings, RateLimitedWarning
from .presence import PRESENCE_KINDS, BusPresence
from .session import BusSession

logger = logging.getLogger("aioneffos.exchange")

MAX_NUMBERED_CHANNELS = 100_000
"""Channels a node numbers (and follows the numbers of) before it starts over: a new epoch."""
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
            stamp=self._stamp,
        )
        self._local_node: LocalNode | None = None
        self._node = ""
        self._tokens = itertools.count(1)
        self._asks: dict[str, AskGather] = {}
        self._counts: dict[str, CountGather] = {}
        self._peers: dict[str, tuple[int, float]] = {}
        self._peers_changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._warned_versions: set[int | None] = set()
        self._own_publish = b"\x00"  # never a prefix before start(): version 0 does not exist
        self.received = 0
        """Broadcasts and closes received from other nodes."""
        self.missed = 0
        """Broadcasts and closes other nodes published on channels this node wanted that never
        arrived here (their numbers were skipped: this node's link was down meanwhile, or the
        broker dropped them); each is counted once, by the node that missed it."""
        self._epoch = 0
        self._seqs: dict[str, int] = {}
        self._own_close = b"\x00"
        self._heard: dict[tuple[str, ...], dict[str, tuple[int, int]]] = {}
        self._misses = RateLimitedWarning(
            "%d message(s) from other nodes missed by %s since the last such line (numbers skipped:"
            " the link was down, or the broker dropped them); latest from node %s"
        )
        self._roster = BusPresence(
            lambda: self._node,
            self.channels,
            self._send,
            self._local,
            lambda: str(next(self._tokens)),
            self._spawn,
            self._session,
            count_timeout=count_timeout,
            retry_after=2 * beat_interval,
        )

    def _new_link(self) -> Link:
        settings = LinkSettings(
            self._node, self.connect_timeout, self.beat_interval, self._session.configured_max_payload
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
    def peers(self) -> Collection[str]:
        """Give the ids of the other nodes heard from recently."""
        return self._peers.keys()

    def add_health_listener(self, listener: HealthListener) -> None:
        """Call *listener(healthy)* on every health transition (it must not block)."""
        self._session.add_health_listener(listener)

    async def wait_peers(self, count: int, timeout: float | None = None) -> bool:
        """Wait until at least *count* other nodes are known; False if not within *timeout*."""
        try:
            async with asyncio.timeout(timeout), self._peers_changed:
                await self._peers_changed.wait_for(lambda: len(self._peers) >= count)
        except TimeoutError:
            return False
        return True

    async def synced(self, timeout: float | None = None) -> bool:
        """Wait until every subscription asked for so far is in effect; False if not within *timeout*."""
        return await self._session.synced(timeout)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _local(self) -> LocalNode:
        if self._local_node is None:
            raise RuntimeError("exchange used before Server.start()")
        return self._local_node

    def _send(self, channel: str, env: Envelope) -> None:
        """Send a message of the cluster's own (presence, answers): urgent, never dropped for room."""
        self._session.send(channel, envelope.encode(env), urgent=True)

    # -- lifecycle ----------------------------------------------------------------

    async def start(self, node: LocalNode) -> None:
        """Connect to the broker (waiting up to *connect_timeout*) and keep the link up.

        Raise `RuntimeError` when this exchange already serves another server (one per node).
        """
        if self._local_node is not None:
            raise RuntimeError("this exchange already serves a server: give each Server its own")
        self._local_node = node
        self._node = node.node_id
        self._own_publish = envelope.head_prefix(EnvelopeKind.PUBLISH, self._node)
        self._own_close = envelope.head_prefix(EnvelopeKind.CLOSE, self._node)
        self._session.want(self.channels.node(self._node))
        self._session.want(self.channels.all())
        self._spawn(self._watch_peers())
        if not await self._session.start(f"node {self._node}"):
            logger.error(
                "node %s: broker %s unreachable; serving local connections only, retrying in background",
                self._node,
                self.broker,
            )

    async def stop(self) -> None:
        """Say goodbye to the other nodes, then close the link."""
        self._send(self.channels.all(), Envelope(EnvelopeKind.BYE, self._node))
        await self._session.stop()
        for task in list(self._tasks):
            task.cancel()

    def _presence(self, kind: str) -> Envelope:
        return Envelope(kind, self._node, count=self._local().total_connections, roster=self._roster.version)

    def _stamp(self, channel: str, data: bytes) -> bytes:
        """Number a broadcast or close on its channel as it goes to the link (other kinds pass)."""
        for prefix in (self._own_publish, self._own_close):
            if data.startswith(prefix):
                if len(self._seqs) >= MAX_NUMBERED_CHANNELS:
                    self._seqs.clear()  # a new epoch: receivers start counting again
                    self._epoch += 1
                seq = self._seqs[channel] = self._seqs.get(channel, 0) + 1
                return envelope.with_sequence(data, prefix, self._epoch, seq)
        return data

    def _count_missed(self, env: Envelope) -> None:
        """Count what another node numbered on a channel this node wants and never got here."""
        msg = env.message
        key = (
            ("id", msg.to)
            if msg.to
            else ("room", msg.namespace, msg.room)
            if msg.room
            else ("ns", msg.namespace)
        )
        heard = self._heard.get(key)
        if heard is None:
            if len(self._heard) >= MAX_NUMBERED_CHANNELS:
                self._heard.clear()
            heard = self._heard[key] = {}
        last = heard.get(env.origin)
        heard[env.origin] = (env.epoch, env.seq)
        if last is None:
            return  # the first heard since this node wants the channel: nothing to compare
        last_epoch, last_seq = last
        if env.epoch == last_epoch:
            missed = env.seq - last_seq - 1
        elif env.epoch > last_epoch:
            missed = env.seq - 1  # the new epoch's earlier messages
        else:
            missed = 0
        if missed > 0:
            self.missed += missed
            self._misses.note(missed, f"node {self._node}", env.origin)

    def _on_up(self) -> None:
        self._epoch += 1
        self._seqs.clear()
        # Nobody could be heard while the link was down: every known node gets a full
        # horizon from now to answer the hello before it is forgotten.
        now = time.monotonic()
        self._peers = {node: (count, now) for node, (count, _) in self._peers.items()}
        self._send(self.channels.all(), self._presence(EnvelopeKind.HELLO))

    def _on_tick(self) -> None:
        self._send(self.channels.all(), self._presence(EnvelopeKind.BEAT))

    async def _watch_peers(self) -> None:
        """Forget the nodes not heard from for *beat_misses* intervals (looked at 4 times an interval)."""
        while True:
            await asyncio.sleep(self.beat_interval / 4)
            if not self._session.healthy:
                continue  # nobody can be heard: a silence now says nothing about them
            horizon = time.monotonic() - self.beat_misses * self.beat_interval
            for node, (_, seen) in list(self._peers.items()):
                if seen < horizon:
                    self._forget_peer(
                        node, f"went silent (no beat for {self.beat_misses} x {self.beat_interval:g}s)"
                    )

    # -- the Exchange protocol ------------------------------------------------------

    def subscribe(self, target: Target) -> None:
        """Subscribe to the channel of *target* (now if the link is up, else when it is)."""
        self._session.want(self.channels.name(target))

    def unsubscribe(self, target: Target) -> None:
        """Unsubscribe from the channel of *target*."""
        self._session.unwant(self.channels.name(target))
        kind = target.kind
        key = ("id", target.conn_id) if kind == "conn" else ("room", target.namespace, target.room)
        self._heard.pop(key if kind != "namespace" else ("ns", target.namespace), None)

    def publish(self, msg: Message, exclusion: Exclusion) -> None:
        """Publish *msg* once for the other nodes; raise `PayloadTooLargeError` when it is too large."""
        channel = self.channels.name(Target.of_message(msg))
        data = envelope.encode(Envelope(EnvelopeKind.PUBLISH, self._node, msg, exclusion))
        self._session.send(channel, data, wanted=lambda: self._roster.reach(msg))

    def close_connection(self, conn_id: str, code: int, reason: str) -> None:
        """Publish a forced close of id *conn_id* for the other nodes."""
        env = Envelope(EnvelopeKind.CLOSE, self._node, Message(to=conn_id), code=code, reason=reason)
        channel = self.channels.name(Target.of_conn(conn_id))
        self._session.send(channel, envelope.encode(env), wanted=lambda: self._roster.knows(conn_id))

    async def ask(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask the matching connections of every node; give the first reply.

        Raise the typed error of an error reply; `NoRecipientError` as soon as no node can
        deliver it: Redis tells how many nodes got the ask and each answers "none", NATS
        only tells when no node subscribes at all (an unknown id); else `AskTimeoutError`
        after *timeout*.
        """
        loop = asyncio.get_running_loop()
        token = str(next(self._tokens))
        env = Envelope(
            EnvelopeKind.ASK,
            self._node,
            msg.evolve(wait=""),
            exclusion,
            token,
            ttl_ms=int(timeout * 1000),
        )
        data = envelope.encode(env)
        self._session.check_size(data, "an ask")
        gather = AskGather(loop.create_future())
        self._asks[token] = gather
        local = loop.create_task(self._local().ask_local(msg, exclusion, timeout))
        local.add_done_callback(gather.local_done)
        # The local ask runs on to its own end even when another node answers first, so a
        # late local reply is still matched (not dispatched to a handler as a new message).
        self._tasks.add(local)
        local.add_done_callback(self._tasks.discard)
        try:
            self._session.send(self.channels.name(Target.of_message(msg)), data, gather.expect)
            async with asyncio.timeout(timeout):
                return await gather.future
        except TimeoutError:
            raise AskTimeoutError(f"no reply to {msg.event!r} from the cluster within {timeout:g}s") from None
        finally:
            del self._asks[token]

    async def count_connections(self) -> ClusterCount:
        """Count the connections of the cluster, asking every node (answers within
        *count_timeout*, or `ask_timeout` if shorter, count).

        A node that does not answer in time counts with its last known figure and makes the
        count stale (`ClusterCount.missing`); while the link is down no node is asked, and
        the count is this node's plus the last known ones, stale.
        """
        local = self._local().total_connections
        now = time.monotonic()
        if not self._session.healthy:
            peers = self._peers
            oldest = min((seen for _, seen in peers.values()), default=now)
            total = local + sum(count for count, _ in peers.values())
            return ClusterCount(total, stale=True, age=now - oldest, missing=tuple(sorted(peers)))
        token = str(next(self._tokens))
        gather = CountGather(asyncio.Event(), self._peers)
        self._counts[token] = gather
        try:
            env = Envelope(EnvelopeKind.COUNT_REQUEST, self._node, token=token)
            self._session.send(self.channels.all(), envelope.encode(env), gather.expect, urgent=True)
            try:
                async with asyncio.timeout(min(self.count_timeout, self._local().ask_timeout)):
                    await gather.done.wait()
            except TimeoutError:
                logger.debug("node %s: some nodes did not answer a count in time", self._node)
        finally:
            del self._counts[token]
        now = time.monotonic()
        missing = sorted(node for node in self._peers if node not in gather.answers)
        total = local + sum(gather.answers.values()) + sum(self._peers[node][0] for node in missing)
        age = now - min((self._peers[node][1] for node in missing), default=now)
        return ClusterCount(total, stale=bool(missing), age=age, missing=tuple(missing))

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
            if env.origin == self._node:
                self._on_echo(env)
            else:
                self._dispatch(env)
        except Exception:
            logger.exception("node %s: failed to handle %s from %s", self._node, env.kind, env.origin)

    def _on_echo(self, env: Envelope) -> None:
        """Our own message came back (Redis has no "no echo"): it counts as one receiver."""
        if env.kind == EnvelopeKind.ASK and env.token in self._asks:
            self._asks[env.token].none()
        elif env.kind == EnvelopeKind.COUNT_REQUEST and env.token in self._counts:
            self._counts[env.token].echo()

    def _dispatch(self, env: Envelope) -> None:
        kind, node = env.kind, self._local()
        if kind == EnvelopeKind.PUBLISH:
            self.received += 1
            if env.seq:
                self._count_missed(env)
            node.deliver(env.message, env.exclusion)
        elif kind == EnvelopeKind.ASK:
            self._spawn(self._answer_ask(env))
        elif kind in (EnvelopeKind.REPLY, EnvelopeKind.NONE):
            if self._roster.answered(env):
                return
            gather = self._asks.get(env.token) if env.asker == self._node else None
            if gather is not None:
                if kind == EnvelopeKind.REPLY:
                    gather.resolve(env.message)
                else:
                    gather.none()
        elif kind == EnvelopeKind.CLOSE:
            self.received += 1
            if env.seq:
                self._count_missed(env)
            node.close_local(env.message.to, env.code or envelope.DEFAULT_CLOSE_CODE, env.reason)
        elif kind == EnvelopeKind.COUNT_REQUEST:
            answer = Envelope(
                EnvelopeKind.COUNT,
                self._node,
                token=env.token,
                asker=env.origin,
                count=node.total_connections,
            )
            self._send(self.channels.node(env.origin), answer)
        elif kind in (EnvelopeKind.COUNT, EnvelopeKind.HELLO, EnvelopeKind.BEAT):
            self._seen_peer(env.origin, env.count)
            if kind != EnvelopeKind.COUNT:
                self._roster.seen(env.origin, env.roster)
            counting = (
                self._counts.get(env.token)
                if kind == EnvelopeKind.COUNT and env.asker == self._node
                else None
            )
            if counting is not None:
                counting.answer(env.origin, env.count)
            if kind == EnvelopeKind.HELLO:
                self._send(self.channels.node(env.origin), self._presence(EnvelopeKind.BEAT))
        elif kind == EnvelopeKind.BYE:
            self._forget_peer(env.origin, "left")
        elif kind in PRESENCE_KINDS:
            self._roster.receive(env)
        else:
            logger.debug("node %s: skipped unknown bus message kind %r", self._node, kind)

    async def _answer_ask(self, env: Envelope) -> None:
        """Ask the local connections an ask from another node; answer REPLY or NONE."""
        node = self._local()
        timeout = env.ttl_ms / 1000 if env.ttl_ms else node.ask_timeout
        msg = env.message
        answer: Message | None
        try:
            answer = await node.ask_local(msg, env.exclusion, timeout)
        except (NoRecipientError, AskTimeoutError):
            answer = None
        except WriteClosedError:
            answer = msg.evolve(body=b"", err="write closed")
        except NeffosError as exc:
            answer = msg.evolve(body=b"", err=error_text(exc))
        except Exception:
            logger.exception("node %s: failed to ask %r for node %s", self._node, msg, env.origin)
            answer = msg.evolve(body=b"", err="internal error")
        kind = EnvelopeKind.NONE if answer is None else EnvelopeKind.REPLY
        reply = Envelope(kind, self._node, answer or Message(), token=env.token, asker=env.origin)
        try:
            self._send(self.channels.node(env.origin), reply)
        except PayloadTooLargeError as exc:
            text = f"the reply is too large for the bus ({exc.size} bytes, limit {exc.limit})"
            reply = attrs.evolve(reply, message=msg.evolve(body=b"", err=text))
            self._send(self.channels.node(env.origin), reply)

    def _seen_peer(self, node: str, count: int) -> None:
        joined = node not in self._peers
        self._peers[node] = (count, time.monotonic())
        if joined:
            logger.info(
                "node %s: node %s joined; the cluster now has %d node(s)",
                self._node,
                node,
                len(self._peers) + 1,
            )
            self._spawn(self._tell_peers_changed())

    async def _tell_peers_changed(self) -> None:
        async with self._peers_changed:
            self._peers_changed.notify_all()

    def _forget_peer(self, node: str, why: str) -> None:
        self._roster.forget(node)
        if self._peers.pop(node, None) is not None:
            logger.info(
                "node %s: node %s %s; the cluster now has %d node(s)",
                self._node,
                node,
                why,
                len(self._peers) + 1,
            )
