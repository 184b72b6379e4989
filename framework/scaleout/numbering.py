"""`Numbering`: broadcasts and closes numbered per channel, so receivers can count what they missed.

A node numbers each broadcast and close it hands to the link (``ep``/``s``: the epoch of
its link and the message's number on its channel; docs/protocol.md#bus-delivery). A
receiver remembers the last number it heard from each node on each channel it wants; a
gap is messages that never arrived (this node's link was down meanwhile, or the broker
dropped them), counted once, by the node that missed them. A new link, or too many
numbered channels, starts a new epoch, and receivers start counting again.
"""

from __future__ import annotations

from ..exchange import Target
from . import envelope
from .envelope import Envelope, EnvelopeKind
from .link import WARN_INTERVAL, RateLimitedWarning

MAX_NUMBERED_CHANNELS = 100_000
"""Channels a node numbers (and follows the numbers of) before it starts over: a new epoch."""


def _key(target: Target) -> tuple[str, ...]:
    if target.conn_id:
        return ("id", target.conn_id)
    return ("room", target.namespace, target.room) if target.room else ("ns", target.namespace)


class Numbering:
    """The numbers one node gives its broadcasts and closes, and those it hears from the others."""

    def __init__(self, warn_interval: float = WARN_INTERVAL) -> None:
        self.received = 0
        """Broadcasts and closes received from other nodes."""
        self.missed = 0
        """Broadcasts and closes other nodes published on channels this node wanted that never
        arrived here; each is counted once, by the node that missed it."""
        self._node = ""
        self._own = (b"\x00", b"\x00")  # never a prefix before start(): version 0 does not exist
        self._epoch = 0
        self._seqs: dict[str, int] = {}
        self._heard: dict[tuple[str, ...], dict[str, tuple[int, int]]] = {}
        self._misses = RateLimitedWarning(
            "%d message(s) from other nodes missed by %s since the last such line (numbers skipped:"
            " the link was down, or the broker dropped them); latest from node %s",
            warn_interval,
        )

    def start(self, node: str) -> None:
        """Number the broadcasts and closes of *node* from now on."""
        self._node = node
        self._own = (
            envelope.head_prefix(EnvelopeKind.PUBLISH, node),
            envelope.head_prefix(EnvelopeKind.CLOSE, node),
        )

    def new_epoch(self) -> None:
        """Start numbering again from 1 on every channel (the link is new)."""
        self._epoch += 1
        self._seqs.clear()

    def stamp(self, channel: str, data: bytes) -> bytes:
        """Number a broadcast or close on its channel as it goes to the link (other kinds pass)."""
        for prefix in self._own:
            if data.startswith(prefix):
                if len(self._seqs) >= MAX_NUMBERED_CHANNELS:
                    self.new_epoch()  # receivers start counting again
                seq = self._seqs[channel] = self._seqs.get(channel, 0) + 1
                return envelope.with_sequence(data, prefix, self._epoch, seq)
        return data

    def received_from(self, env: Envelope) -> None:
        """Count a broadcast or close from another node, and what it shows this node missed."""
        self.received += 1
        if env.seq:
            self._count_missed(env)

    def flush_warnings(self) -> None:
        """Log the misses summed since the last line once its interval has passed (every tick)."""
        self._misses.flush()

    def forget(self, target: Target) -> None:
        """This node no longer wants the channel of *target*: stop following its numbers."""
        self._heard.pop(_key(target), None)

    def _count_missed(self, env: Envelope) -> None:
        """Count what another node numbered on a channel this node wants and never got here."""
        msg = env.message  # the key of Target.of_message(msg), without making the Target
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
