"""`BusAsks`: asks and connection counts that cross nodes, the part of a `BusExchange` that gathers answers.

An ask goes to the channel of its target with the asking node and a token; every node asks
its own matching connections and answers on the asker's node channel, ``rep`` with the
reply or ``none`` (docs/protocol.md#cluster-asks). A count request goes to every node, and
each answers with its number of connections. `gathers` decides when the answers are all in.
"""

from __future__ import annotations

import asyncio
import logging
import time

import attrs

from ..errors import (
    AskTimeoutError,
    NeffosError,
    NoRecipientError,
    PayloadTooLargeError,
    WriteClosedError,
    error_text,
)
from ..exchange import ClusterCount, Exclusion, Target
from ..message import Message
from . import envelope
from .envelope import Envelope, EnvelopeKind
from .gathers import AskGather, CountGather
from .node import BusNode
from .peers import Peers

logger = logging.getLogger("aioneffos.exchange")


class BusAsks:
    """The asks and counts of *node* across the cluster (see the module docstring); *peers*
    are the nodes known to answer a count."""

    def __init__(self, node: BusNode, peers: Peers, *, count_timeout: float) -> None:
        self._bus = node
        self._channels = node.channels
        self._send = node.send
        self._local = node.local
        self._token = node.token
        self._session = node.session
        self._peers = peers
        self.count_timeout = count_timeout
        self._asks: dict[str, AskGather] = {}
        self._counts: dict[str, CountGather] = {}

    # -- this node's asks and counts ---------------------------------------------------

    async def ask(self, msg: Message, exclusion: Exclusion, timeout: float) -> Message:
        """Ask the matching connections of every node; give the first reply (see `BusExchange.ask`)."""
        loop = asyncio.get_running_loop()
        token = self._token()
        env = Envelope(
            EnvelopeKind.ASK,
            self._bus.id,
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
        self._bus.background.keep(local)
        try:
            self._session.send(self._channels.name(Target.of_message(msg)), data, gather.expect)
            async with asyncio.timeout(timeout):
                return await gather.future
        except TimeoutError:
            raise AskTimeoutError(f"no reply to {msg.event!r} from the cluster within {timeout:g}s") from None
        finally:
            del self._asks[token]

    async def count(self) -> ClusterCount:
        """Count the connections of the cluster (see `BusExchange.count_connections`)."""
        local = self._local().total_connections
        now = time.monotonic()
        if not self._session.healthy:
            peers = self._peers.known
            oldest = min((seen for _, seen in peers.values()), default=now)
            total = local + sum(count for count, _ in peers.values())
            return ClusterCount(total, stale=True, age=now - oldest, missing=tuple(sorted(peers)))
        token = self._token()
        gather = CountGather(asyncio.Event(), self._peers.ids)
        self._counts[token] = gather
        try:
            env = Envelope(EnvelopeKind.COUNT_REQUEST, self._bus.id, token=token)
            self._session.send(self._channels.all(), envelope.encode(env), gather.expect, urgent=True)
            try:
                async with asyncio.timeout(min(self.count_timeout, self._local().ask_timeout)):
                    await gather.done.wait()
            except TimeoutError:
                logger.debug("node %s: some nodes did not answer a count in time", self._bus.id)
        finally:
            del self._counts[token]
        now = time.monotonic()
        peers = self._peers.known
        missing = sorted(node for node in peers if node not in gather.answers)
        total = local + sum(gather.answers.values()) + sum(peers[node][0] for node in missing)
        age = now - min((peers[node][1] for node in missing), default=now)
        return ClusterCount(total, stale=bool(missing), age=age, missing=tuple(missing))

    # -- answers to them ---------------------------------------------------------------------

    def echoed(self, env: Envelope) -> None:
        """Our own ask or count request came back (Redis has no "no echo"): it counts as one receiver."""
        if env.kind == EnvelopeKind.ASK and env.token in self._asks:
            self._asks[env.token].none()
        elif env.kind == EnvelopeKind.COUNT_REQUEST and env.token in self._counts:
            self._counts[env.token].echo()

    def replied(self, env: Envelope) -> None:
        """Take a ``rep`` or ``none`` answering one of this node's asks (others are late: skipped)."""
        gather = self._asks.get(env.token) if env.asker == self._bus.id else None
        if gather is not None:
            if env.kind == EnvelopeKind.REPLY:
                gather.resolve(env.message)
            else:
                gather.none()

    def counted(self, env: Envelope) -> None:
        """Take a count answering one of this node's count requests (others are late: skipped)."""
        gather = self._counts.get(env.token) if env.asker == self._bus.id else None
        if gather is not None:
            gather.answer(env.origin, env.count)

    # -- the other nodes' asks and counts -------------------------------------------------

    def answer_count(self, env: Envelope) -> None:
        """Answer another node's count request with this node's number of connections."""
        node = self._bus.id
        count = self._local().total_connections
        answer = Envelope(EnvelopeKind.COUNT, node, token=env.token, asker=env.origin, count=count)
        self._send(self._channels.node(env.origin), answer)

    async def answer(self, env: Envelope) -> None:
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
            logger.exception("node %s: failed to ask %r for node %s", self._bus.id, msg, env.origin)
            answer = msg.evolve(body=b"", err="internal error")
        kind = EnvelopeKind.NONE if answer is None else EnvelopeKind.REPLY
        reply = Envelope(kind, self._bus.id, answer or Message(), token=env.token, asker=env.origin)
        try:
            self._send(self._channels.node(env.origin), reply)
        except PayloadTooLargeError as exc:
            text = f"the reply is too large for the bus ({exc.size} bytes, limit {exc.limit})"
            reply = attrs.evolve(reply, message=msg.evolve(body=b"", err=text))
            self._send(self._channels.node(env.origin), reply)
