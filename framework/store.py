"""`Store`: the per-connection key/value store (neffos ``Conn.Set/Get/Increment``)."""

from __future__ import annotations

from typing import Any


class Store(dict[str, Any]):
    """A per-connection dict, local only (never sent), with counters."""

    def increment(self, key: str, delta: int = 1) -> int:
        """Add *delta* to the int at *key* and return it; a missing or non-int value counts as 0."""
        current = self.get(key)
        value = (current if type(current) is int else 0) + delta
        self[key] = value
        return value

    def decrement(self, key: str, delta: int = 1) -> int:
        """Subtract *delta* from the int at *key* and return it; see `increment`."""
        return self.increment(key, -delta)
