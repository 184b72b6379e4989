"""`MessageStore`: the recent messages of every room, kept in memory (a registered dependency)."""

from __future__ import annotations

from collections import deque

import attrs


@attrs.frozen
class ChatMessage:
    """One message said in a room; sent to the browser as JSON."""

    room: str
    sender: str
    text: str
    at: float
    """Seconds since the epoch, when the server received it."""


class MessageStore:
    """Keeps the last *keep* messages of each room, for newcomers to read."""

    def __init__(self, keep: int = 50) -> None:
        self.keep = keep
        self._rooms: dict[str, deque[ChatMessage]] = {}

    def add(self, message: ChatMessage) -> ChatMessage:
        """Remember *message* (the oldest of its room is forgotten past *keep*); give it back."""
        messages = self._rooms.get(message.room)
        if messages is None:
            messages = self._rooms[message.room] = deque(maxlen=self.keep)
        messages.append(message)
        return message

    def history(self, room: str) -> list[ChatMessage]:
        """Give the remembered messages of *room*, oldest first."""
        return list(self._rooms.get(room, ()))
