"""`BusPresence`: cluster presence over the bus, the part of a `BusExchange` that keeps rosters.

It publishes this node's roster changes (``member``, with a version), answers snapshot
requests (``roster?``, answered in ``roster`` parts that fit the broker), feeds what the
other nodes send into `Rosters` and tells the local listeners, and carries room changes
of a connection by id (``room+``/``room-``, answered ``rep`` with a count or an error)
(docs/protocol.md#cluster-presence).
"""

from __future__ import annotations

import asyncio
import logging

from ..errors import AskTimeoutError, NeffosError, error_text, resolve_remote_error
from ..exchange import Target
from ..message import Message
from ..presence import PresenceEvent, Roster
from . import envelope
from .envelope import Envelope, EnvelopeKind
from .gathers import RoomGather
from .node import BusNode
from .rosters import Rosters, decode_change, decode_part, encode_change, encode_parts

logger = logging.getLogger("aioneffos.exchange")

PRESENCE_KINDS = frozenset(
    {
        EnvelopeKind.MEMBER,
        EnvelopeKind.ROSTER_REQUEST,
        EnvelopeKind.ROSTER,
        EnvelopeKind.ROOM_JOIN,
        EnvelopeKind.ROOM_LEAVE,
    }
)
"""The envelope kinds `BusPresence.receive` handles."""
SNAPSHOT_PART = 256 << 10
"""The largest snapshot part (bytes), or the broker's limit less 1 KiB if lower."""


class BusPresence:
    """Presence over the bus for *node* (see the module docstring)."""

    def __init__(self, node: BusNode, *, count_timeout: float, retry_after: float) -> None:
        self._bus = node
        self._channels = node.channels
        self._send = node.send
        self._local = node.local
        self._token = node.token
        self._spawn = node.spawn
        self._session = node.session
        self._count_timeout = count_timeout
        self.version = 0
        """This node's roster version: how many changes it has published."""
        self._rosters = Rosters(self._ask_roster, retry_after=retry_after)
        self._room_changes: dict[str, RoomGather] = {}
        self._changed = asyncio.Condition()

    # -- this node's changes ------------------------------------------------------------

    def member_changed(self, event: PresenceEvent) -> None:
        """Publish a change of this node's roster (a new version) for the other nodes."""
        self.version += 1
        env = Envelope(
            EnvelopeKind.MEMBER, self._bus.id, Message(body=encode_change(event)), roster=self.version
        )
        self._send(self._channels.all(), env)

    def _send_roster(self, asker: str, token: str) -> None:
        limit = self._session.max_payload or SNAPSHOT_PART
        budget = max(1024, min(limit, SNAPSHOT_PART) - 1024)
        node = self._bus.id
        for body in encode_parts(self._local().roster.seats(), budget):
            env = Envelope(
                EnvelopeKind.ROSTER, node, Message(body=body), token=token, asker=asker, roster=self.version
            )
            self._send(self._channels.node(asker), env)

    # -- the other nodes -------------------------------------------------------------------

    async def roster(self, namespace: str) -> Roster:
        """Give the other nodes' connections to *namespace*; while a node's roster is being
        fetched again, wait for it up to *count_timeout* first (stale if it does not come)."""
        if self._rosters.awaited and self._session.healthy:
            try:
                async with asyncio.timeout(self._count_timeout), self._changed:
                    await self._changed.wait_for(lambda: not self._rosters.awaited)
            except TimeoutError:
                pass
        stale = bool(self._rosters.awaited) or not self._session.healthy
        return Roster(tuple(self._rosters.seats(namespace)), stale)

    def reach(self, msg: Message) -> bool:
        """Tell whether another node is known to have a recipient of *msg*."""
        return self._rosters.reach(msg.namespace, msg.room, msg.to)

    def knows(self, conn_id: str) -> bool:
        """Tell whether another node is known to have a connection with id *conn_id*."""
        return self._rosters.knows(conn_id)

    def seen(self, node: str, version: int) -> None:
        """*node* says (hello, beat) its roster is at *version*."""
        self._rosters.seen(node, version)

    def forget(self, node: str) -> None:
        """*node* left or went silent: its connections leave."""
        self._heard(self._rosters.forget(node))

    def _ask_roster(self, node: str) -> str:
        token = self._token()
        self._send(
            self._channels.node(node), Envelope(EnvelopeKind.ROSTER_REQUEST, self._bus.id, token=token)
        )
        return token

    def _heard(self, events: list[PresenceEvent]) -> None:
        if not events:
            return
        roster = self._local().roster
        for event in events:
            roster.heard(event)
        self._spawn(self._tell_changed())

    async def _tell_changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def receive(self, env: Envelope) -> None:
        """Handle a presence envelope (one of `PRESENCE_KINDS`) from another node."""
        kind = env.kind
        if kind == EnvelopeKind.MEMBER:
            self._heard(self._rosters.changed(env.origin, env.roster, decode_change(env.message.body)))
        elif kind == EnvelopeKind.ROSTER_REQUEST:
            self._send_roster(env.origin, env.token)
        elif kind == EnvelopeKind.ROSTER:
            if env.asker == self._bus.id:
                index, total, seats = decode_part(env.message.body, env.origin)
                self._heard(self._rosters.part(env.origin, env.token, env.roster, index, total, seats))
        else:
            self._spawn(self._answer_room_change(env))

    # -- room changes by connection id -------------------------------------------------

    async def change_room(
        self, conn_id: str, namespace: str, room: str, *, join: bool, timeout: float
    ) -> int:
        """Make the other nodes' connections with id *conn_id* in *namespace* join (or leave)
        *room*; give how many did. Only nodes this node knows to have such a connection are
        waited for; raise the first refusal, or `AskTimeoutError` when one does not answer."""
        expected = self._rosters.nodes_with(conn_id, namespace)
        if not expected:
            return 0
        token = self._token()
        gather = RoomGather(asyncio.Event(), expected)
        self._room_changes[token] = gather
        kind = EnvelopeKind.ROOM_JOIN if join else EnvelopeKind.ROOM_LEAVE
        msg = Message(namespace, room=room, to=conn_id)
        env = Envelope(kind, self._bus.id, msg, token=token, ttl_ms=int(timeout * 1000))
        try:
            self._session.send(
                self._channels.name(Target.of_conn(conn_id)), envelope.encode(env), urgent=True
            )
            async with asyncio.timeout(timeout):
                await gather.done.wait()
        except TimeoutError:
            missing = ", ".join(sorted(expected - gather.answered))
            raise AskTimeoutError(f"no answer from node(s) {missing} within {timeout:g}s") from None
        finally:
            del self._room_changes[token]
        if gather.error is not None:
            raise resolve_remote_error(gather.error)
        return gather.count

    def answered(self, env: Envelope) -> bool:
        """Take a ``rep`` answering one of this node's room changes; tell whether it was one."""
        changing = self._room_changes.get(env.token) if env.asker == self._bus.id else None
        if changing is None:
            return False
        changing.answer(env.origin, env.count, env.message.err)
        return True

    async def _answer_room_change(self, env: Envelope) -> None:
        """Make this node's connections join or leave a room for another node; answer it."""
        msg, node = env.message, self._local()
        change = node.roster.join_local if env.kind == EnvelopeKind.ROOM_JOIN else node.roster.leave_local
        timeout = env.ttl_ms / 1000 if env.ttl_ms else node.ask_timeout
        answer = Message()
        try:
            count = await change(msg.to, msg.namespace, msg.room, timeout)
        except NeffosError as exc:
            count, answer = 0, Message(err=error_text(exc))
        except Exception as exc:
            logger.exception("node %s: failed to change a room for node %s", self._bus.id, env.origin)
            count, answer = 0, Message(err=error_text(exc))
        reply = Envelope(
            EnvelopeKind.REPLY, self._bus.id, answer, token=env.token, asker=env.origin, count=count
        )
        self._send(self._channels.node(env.origin), reply)
