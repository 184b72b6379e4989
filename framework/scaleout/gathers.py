"""How a node gathers the answers of the cluster to one of its asks or counts."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from ..errors import AskTimeoutError, NoRecipientError, resolve_remote_error
from ..message import Message


class AskGather:
    """The answers to one cluster ask: the first reply wins; all "none" means no recipient.

    *expected* is how many nodes the broker says got the ask (the asker included, when
    the broker echoes), once it says; NATS does not, except 0 when nobody subscribes.
    """

    def __init__(self, future: asyncio.Future[Message]) -> None:
        self.future = future
        self.expected: int | None = None
        self.nones = 0
        self.local_none = False

    def resolve(self, reply: Message) -> None:
        """A node replied: the first reply (or error reply) ends the ask."""
        if not self.future.done():
            if reply.err is not None:
                self.future.set_exception(resolve_remote_error(reply.err))
            else:
                self.future.set_result(reply)

    def local_done(self, task: asyncio.Task[Message]) -> None:
        """This node's own ask of its connections ended (a done-callback of *task*)."""
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
        """A node has no matching connection (or our own ask came back from the broker)."""
        self.nones += 1
        self._check()

    def expect(self, receivers: int | None) -> None:
        """The broker tells how many nodes got the ask (``None``: it does not say)."""
        if receivers is not None:
            self.expected = receivers
        self._check()

    def _check(self) -> None:
        everyone_said_none = self.local_none and self.expected is not None and self.nones >= self.expected
        if everyone_said_none and not self.future.done():
            self.future.set_exception(NoRecipientError("no connection in the cluster matches the ask"))


class CountGather:
    """The answers to one cluster count."""

    def __init__(self, done: asyncio.Event, peers: Collection[str]) -> None:
        self.done = done
        self.peers = set(peers)
        self.answers: dict[str, int] = {}
        self.echoes = 0
        self.expected: int | None = None

    def answer(self, node: str, count: int) -> None:
        """*node* has *count* connections."""
        self.answers[node] = count
        self._check()

    def echo(self) -> None:
        """Our own count request came back from the broker (we are one of its receivers)."""
        self.echoes += 1
        self._check()

    def expect(self, receivers: int | None) -> None:
        """The broker tells how many nodes got the request (``None``: wait for every known peer)."""
        self.expected = receivers
        self._check()

    def _check(self) -> None:
        if self.expected is not None:
            finished = len(self.answers) + self.echoes >= self.expected
        else:
            finished = self.peers <= self.answers.keys()
        if finished:
            self.done.set()


class RoomGather:
    """The answers to one room change by connection id: every expected node answers, with a count."""

    def __init__(self, done: asyncio.Event, expected: Collection[str]) -> None:
        self.done = done
        self.expected = set(expected)
        self.answered: set[str] = set()
        self.count = 0
        self.error: str | None = None

    def answer(self, node: str, count: int, error: str | None) -> None:
        """*node* changed *count* connections, or refused with *error*."""
        self.answered.add(node)
        self.count += count
        if error is not None and self.error is None:
            self.error = error
            self.done.set()
        if self.expected <= self.answered:
            self.done.set()
