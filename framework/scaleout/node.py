"""`BusNode`: what the parts of one node's `BusExchange` share (asks, peers, presence)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any

from ..background import Background
from ..exchange import LocalNode
from . import envelope
from .envelope import Channels, Envelope
from .session import BusSession


class BusNode:
    """One node on the bus: its id, the channel names, its link (*session*), the server it
    serves, fresh tokens and the tasks it runs."""

    def __init__(self, channels: Channels, session: BusSession) -> None:
        self.channels = channels
        self.session = session
        self.id = ""
        """This node's id (the served server's, once started)."""
        self.served: LocalNode | None = None
        self.background = Background()
        self._tokens = itertools.count(1)

    def local(self) -> LocalNode:
        """Give the server this node serves; raise `RuntimeError` before it started."""
        if self.served is None:
            raise RuntimeError("exchange used before Server.start()")
        return self.served

    def token(self) -> str:
        """Give a fresh token (asks, counts, roster requests, room changes)."""
        return str(next(self._tokens))

    def send(self, channel: str, env: Envelope) -> None:
        """Send a message of the cluster's own (presence, answers): urgent, never dropped for room."""
        self.session.send(channel, envelope.encode(env), urgent=True)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run *work* in a task kept until it ends (cancelled when the exchange stops)."""
        self.background.keep(asyncio.get_running_loop().create_task(work))
