"""`Peers`: the other nodes of the cluster, as one node hears them (docs/protocol.md#cluster-presence).

A node is known from its first hello, beat or count answer on, with its last announced
connection count; it is forgotten when it says bye or has been silent for *beat_misses*
beat intervals, except while this node's own link is down (then nobody can be heard).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection

from .node import BusNode

logger = logging.getLogger("aioneffos.exchange")


class Peers:
    """The other nodes one node has heard from recently (see the module docstring).

    *node* is this node, and *on_forget* is told each node forgotten.
    """

    def __init__(
        self, node: BusNode, on_forget: Callable[[str], None], *, beat_interval: float, beat_misses: int
    ) -> None:
        self._bus = node
        self._on_forget = on_forget
        self.beat_interval = beat_interval
        self.beat_misses = beat_misses
        self.known: dict[str, tuple[int, float]] = {}
        """Each known node's last announced connection count and when it was last heard
        (``time.monotonic``)."""
        self._changed = asyncio.Condition()

    @property
    def ids(self) -> Collection[str]:
        """Give the ids of the nodes heard from recently."""
        return self.known.keys()

    async def wait(self, count: int, timeout: float | None = None) -> bool:
        """Wait until at least *count* nodes are known; False if not within *timeout*."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.known) >= count)
        except TimeoutError:
            return False
        return True

    def seen(self, node: str, count: int) -> None:
        """*node* announced itself (hello, beat) or answered a count with *count* connections."""
        joined = node not in self.known
        self.known[node] = (count, time.monotonic())
        if joined:
            logger.info(
                "node %s: node %s joined; the cluster now has %d node(s)",
                self._bus.id,
                node,
                len(self.known) + 1,
            )
            self._bus.spawn(self._tell_changed())

    def forget(self, node: str, why: str) -> None:
        """*node* left or went silent (*why*, for the log)."""
        self._on_forget(node)
        if self.known.pop(node, None) is not None:
            logger.info(
                "node %s: node %s %s; the cluster now has %d node(s)",
                self._bus.id,
                node,
                why,
                len(self.known) + 1,
            )

    def heard_again(self) -> None:
        """This node's link is back: nobody could be heard while it was down, so every known
        node gets a full horizon from now to answer the hello before it is forgotten."""
        now = time.monotonic()
        self.known = {node: (count, now) for node, (count, _) in self.known.items()}

    async def watch(self) -> None:
        """Forget the nodes not heard from for *beat_misses* intervals (looked at 4 times an interval)."""
        while True:
            await asyncio.sleep(self.beat_interval / 4)
            if not self._bus.session.healthy:
                continue  # nobody can be heard: a silence now says nothing about them
            horizon = time.monotonic() - self.beat_misses * self.beat_interval
            for node, (_, seen) in list(self.known.items()):
                if seen < horizon:
                    self.forget(
                        node, f"went silent (no beat for {self.beat_misses} x {self.beat_interval:g}s)"
                    )

    async def _tell_changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()
