"""What became of a message from a peer (`Outcome`), as an `Observer` is told it.

Its own module so that the logs and the handler tables can name outcomes without importing
`observer.py`, whose `Observer` names `Conn` (the session core would import itself).
"""

from __future__ import annotations

from typing import Final, Literal

Outcome = Literal["reply", "empty", "none", "error", "refused", "limited", "unknown"]
"""What became of a message from a peer, as its handler or request gave it."""

REPLY: Final = "reply"
"""The handler returned a body: a reply went back (or, for a native message, a message)."""
EMPTY: Final = "empty"
"""The empty reply went back: the handler returned nothing to an ask, or a request was granted."""
NONE: Final = "none"
"""Handled, with nothing sent back: a plain emit, or an ask left unanswered
(`Options.reply_to_unanswered_asks` off)."""
ERROR: Final = "error"
"""A handler (or request hook) raised what is not a refusal: a bug, logged at ERROR."""
REFUSED: Final = "refused"
"""A handler (or request hook) refused it (`Refused`, `PermissionError`, `ValueError`)."""
LIMITED: Final = "limited"
"""A limit refused it (`Options.max_name_length`, `Options.max_rooms_per_connection`)."""
UNKNOWN: Final = "unknown"
"""Nothing handles it: no handler for its event, or a namespace this server does not serve."""
