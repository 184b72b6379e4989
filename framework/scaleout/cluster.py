"""`BusExchange`: scale-out over a pub/sub broker, given a way to make a `Link` to it.

One broker link per node (`BusSession`), never one per websocket client. The node
subscribes to the channels it has local recipients for (namespaces, rooms, connection
ids; see `Channels`) plus its own node channel and the cluster channel. Broadcasts
are delivered locally at once and published once for the other nodes, which deliver
with `Server.deliver` (encoded once). Asks carry the asking node and its token, and
answers come back on that node's channel (docs/protocol.md#cluster-asks). Nodes announce
themselves on the cluster channel (presence), which `count_connections` relies on. While
the broker is away, local traffic goes on and what other nodes should have received is
dropped (pub/sub is at-most-once) and counted in `BusExchange.dropped`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Collection, Coroutine
from typing import TYPE_CHECKING, Any

from ..conn import CLOSE_NORMAL
from ..errors import (
    AskTimeoutError,
    NeffosError,
    NoRecipientError,
    WriteClosedError,
    error_text,
    resolve_remote_error,
)
from ..exchange import Exclusion
from ..message import Message
from . import envelope
from .envelope import Envelope, EnvelopeKind
from .link import BusSession, HealthListener, Link, LinkSettings

if TYPE_CHECKING:
    from ..server import Server

logger = logging.getLogger("aioneffos.exchange")

LinkFactory = Callable[[LinkSettings], Link]
"""Makes a new, unopened link to the broker (called for every connect attempt)."""


class _AskGather:
    """The answers to one cluster ask: the first reply wins; all "none" means no recipient."""

    def __init__(self, future: asyncio.Future[Message]) -> None:
        self.future = future
        self.expected: int | None = None
        self.nones = 0
        self.local_none = False

    def resolve(self, reply: Message) -> None:
        if not self.future.done():
            if reply.err is not None:
                self.future.set_exception(resolve_remote_error(reply.err))
            else:
                self.future.set_result(reply)

    def local_done(self, task: asyncio.Task[Message]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if self.future.done():
            return
        if exc is None:
            self.future.set_result(task.result())
        elif isinstance(exc, NoRecipientError | AskTimeoutError):
            self.local_none = True
            self._check()
        else:
            self.future.set_exception(exc)

    def none(self) -> None:
        self.nones += 1
        self._check()

    def expect(self, receivers: int | None) -> None:
        if receivers is not None:
            self.expected = receivers
        self._check()

    def _check(self) -> None:
        everyone_said_none = self.local_none and self.expected is not None and self.nones >= self.expected
        if everyone_said_none and not self.future.done():
            self.future.set_exception(NoRecipientError("no connection in the cluster matches the ask"))


class _CountGather:
    """The answers to one cluster count."""

    def __init__(self, done: asyncio.Event, peers: Collection[str]) -> None:
        self.done = done
        self.peers = set(peers)
        self.answers: dict[str, int] = {}
        self.echoes = 0
        self.expected: int | None = None

    def answer(self, node: str, count: int) -> None:
        self.answers[node] = count
        self._check()

    def echo(self) -> None:
        self.echoes += 1
        self._check()

    def expect(self, receivers: int | None) -> None:
        self.expected = receivers
        self._check()

    def _check(self) -> None:
        if self.expected is not None:
            finished = len(self.answers) + self.echoes >= self.expected
        else:
            finished = self.peers <= self.answers.keys()
        if finished:
            self.done.set()


class BusExchange:
    """An `Exchange` over a pub/sub broker, whose links *make_link* makes.

    *broker* names the broker in logs (a URL without credentials). *prefix* namespaces
    the channels (several apps can share a broker). Reconnection waits *reconnect_delay*
    seconds, doubling up to *reconnect_max* (with jitter). Every *beat_interval* seconds
    the node announces itself and checks the link; a node silent for three intervals is
    forgotten. At most *max_pending* messages wait for the broker; more are dropped.
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
        beat_interval: float = 2.0,
        max_pending: int = 10_000,
        max_batch: int = 256,
    ) -> None:
        self.channels = envelope.Channels(prefix)
        self.broker = broker
        """The broker, as logs name it."""
        self.connect_timeout = connect_timeout
        self.beat_interval = beat_interval
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
        )
        self._server: Server | None = None
        self._node = ""
        self._tokens = itertools.count(1)
        self._asks: dict[str, _AskGather] = {}
        self._counts: dict[str, _CountGather] = {}
        self._peers: dict[str, tuple[int, float]] = {}
        self._peers_changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._warned_versions: set[int | None] = set()
        self._own_publish = b"\x00"  # never a prefix before start(): version 0 does not exist

    def _new_link(self) -> Link:
        return self._make_link(LinkSettings(self._node, self.connect_timeout, self.beat_interval))

    # -- state --------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Tell whether the broker link is up and subscribed (false while reconnecting)."""
        return self._session.healthy

    @property
    def dropped(self) -> int:
        """Count the messages not sent to the broker because the link was down or the queue full."""
        return self._session.dropped

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

    def _local(self) -> Server:
        if self._server is None:
            raise RuntimeError("exchange used before Server.start()")
        return self._server

    def _send(self, channel: str, env: Envelope) -> None:
        self._session.send(channel, envelope.encode(env))

    # -- lifecycle ----------------------------------------------------------------

    async def start(self, server: Server) -> None:
        """Connect to the broker (waiting up to *connect_timeout*) and keep the link up.

        Raise `RuntimeError` when this exchange already serves another server (one per node).
        """
        if self._server is not None:
            raise RuntimeError("this exchange already serves a server: give each Server its own")
        self._server = server
        self._node = server.node_id
        self._own_publish = envelope.head_prefix(EnvelopeKind.PUBLISH, self._node)
        self._session.want(self.channels.node(self._node))
        self._session.want(self.channels.all())
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
        return Envelope(kind, self._node, count=self._local().total_connections)

    def _on_up(self) -> None:
        self._send(self.channels.all(), self._presence(EnvelopeKind.HELLO))

    def _on_tick(self) -> None:
        self._send(self.channels.all(), self._presence(EnvelopeKind.BEAT))
        horizon = time.monotonic() - 3 * self.beat_interval
        for node, (_, seen) in list(self._peers.items()):
            if seen < horizon:
                self._forget_peer(node, "went silent")

    # -- the Exchange protocol ------------------------------------------------------

    def publish(self, msg: Message, exclusion: Exclusion) -> None:
        """Deliver *msg* here at once and publish it for the other nodes."""
        self._local().deliver(msg, exclusion)
        self._send(self.channels.target(msg), Envelope(EnvelopeKind.PUBLISH, self._node, msg, exclusion))

    async def ask(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask the matching connections of every node; give the first reply.

        Raise the typed error of an error reply; `NoRecipientError` as soon as no node can
        deliver it: Redis tells how many nodes got the ask and each answers "none", NATS
        only tells when no node subscribes at all (an unknown id); else `AskTimeoutError`
        after *timeout*.
        """
        loop = asyncio.get_running_loop()
        token = str(next(self._tokens))
        gather = _AskGather(loop.create_future())
        self._asks[token] = gather
        local = loop.create_task(self._local().ask_local(msg, exclusion, timeout))
        local.add_done_callback(gather.local_done)
        # The local ask runs on to its own end even when another node answers first, so a
        # late local reply is still matched (not dispatched to a handler as a new message).
        self._tasks.add(local)
        local.add_done_callback(self._tasks.discard)
        try:
            env = Envelope(
                EnvelopeKind.ASK,
                self._node,
                msg.evolve(wait=""),
                exclusion,
                token,
                ttl_ms=int(timeout * 1000),
            )
            self._session.send(self.channels.target(msg), envelope.encode(env), gather.expect)
            async with asyncio.timeout(timeout):
                return await gather.future
        except TimeoutError:
            raise AskTimeoutError(f"no reply to {msg.event!r} from the cluster within {timeout:g}s") from None
        finally:
            del self._asks[token]

    def close_connection(self, conn_id: str, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Close every connection with id *conn_id*, here at once and on the other nodes."""
        self._local().close_local(conn_id, code, reason)
        env = Envelope(EnvelopeKind.CLOSE, self._node, Message(to=conn_id), code=code, reason=reason)
        self._send(self.channels.conn(conn_id), env)

    async def count_connections(self) -> int:
        """Count the connections of the cluster, asking every node (answers within 2 s count).

        While the link is down, give this node's count plus the last known counts of the
        other nodes.
        """
        local = self._local().total_connections
        if not self._session.is_up:
            return local + sum(count for count, _ in self._peers.values())
        token = str(next(self._tokens))
        gather = _CountGather(asyncio.Event(), self._peers)
        self._counts[token] = gather
        try:
            env = Envelope(EnvelopeKind.COUNT_REQUEST, self._node, token=token)
            self._session.send(self.channels.all(), envelope.encode(env), gather.expect)
            try:
                async with asyncio.timeout(min(2.0, self._local().options.ask_timeout)):
                    await gather.done.wait()
            except TimeoutError:
                logger.info("node %s: some nodes did not answer a count in time", self._node)
        finally:
            del self._counts[token]
        missing = sum(count for node, (count, _) in self._peers.items() if node not in gather.answers)
        return local + sum(gather.answers.values()) + missing

    def namespace_active(self, namespace: str) -> None:
        """Subscribe to *namespace*'s broadcasts."""
        self._session.want(self.channels.namespace(namespace))

    def namespace_idle(self, namespace: str) -> None:
        """Unsubscribe from *namespace*'s broadcasts."""
        self._session.unwant(self.channels.namespace(namespace))

    def room_active(self, namespace: str, room: str) -> None:
        """Subscribe to *room*'s broadcasts."""
        self._session.want(self.channels.room(namespace, room))

    def room_idle(self, namespace: str, room: str) -> None:
        """Unsubscribe from *room*'s broadcasts."""
        self._session.unwant(self.channels.room(namespace, room))

    def conn_active(self, conn_id: str) -> None:
        """Subscribe to messages for *conn_id*."""
        self._session.want(self.channels.conn(conn_id))

    def conn_idle(self, conn_id: str) -> None:
        """Unsubscribe from messages for *conn_id*."""
        self._session.unwant(self.channels.conn(conn_id))

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
        kind, server = env.kind, self._local()
        if kind == EnvelopeKind.PUBLISH:
            server.deliver(env.message, env.exclusion)
        elif kind == EnvelopeKind.ASK:
            self._spawn(self._answer_ask(env))
        elif kind in (EnvelopeKind.REPLY, EnvelopeKind.NONE):
            gather = self._asks.get(env.token) if env.asker == self._node else None
            if gather is not None:
                if kind == EnvelopeKind.REPLY:
                    gather.resolve(env.message)
                else:
                    gather.none()
        elif kind == EnvelopeKind.CLOSE:
            server.close_local(env.message.to, env.code or CLOSE_NORMAL, env.reason)
        elif kind == EnvelopeKind.COUNT_REQUEST:
            answer = Envelope(
                EnvelopeKind.COUNT,
                self._node,
                token=env.token,
                asker=env.origin,
                count=server.total_connections,
            )
            self._send(self.channels.node(env.origin), answer)
        elif kind in (EnvelopeKind.COUNT, EnvelopeKind.HELLO, EnvelopeKind.BEAT):
            self._seen_peer(env.origin, env.count)
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
        else:
            logger.debug("node %s: skipped unknown bus message kind %r", self._node, kind)

    async def _answer_ask(self, env: Envelope) -> None:
        """Ask the local connections an ask from another node; answer REPLY or NONE."""
        server = self._local()
        timeout = env.ttl_ms / 1000 if env.ttl_ms else server.options.ask_timeout
        msg = env.message
        answer: Message | None
        try:
            answer = await server.ask_local(msg, env.exclusion, timeout)
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
        if self._peers.pop(node, None) is not None:
            logger.info(
                "node %s: node %s %s; the cluster now has %d node(s)",
                self._node,
                node,
                why,
                len(self._peers) + 1,
            )
