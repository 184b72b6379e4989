"""Guards for a server exposed to anyone: the origin policy of the upgrade and flood control.

`OriginPolicy` decides which web pages may open a connection (browsers send the page's
``Origin``; other clients usually send none). `RateLimiter` holds a peer to a message and
byte rate with token buckets. Both are built once per server or connection; checking is a
few comparisons.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

ANY_ORIGIN = "*"
"""The `Options.allowed_origins` entry that allows every origin."""

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def _split_origin(origin: str) -> tuple[str, str, int | None] | None:
    """Give (scheme, host, port) of an ``Origin`` value, the port made explicit when the
    scheme implies it; ``None`` for anything that is not ``scheme://host[:port]``."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return None
    return parts.scheme, parts.hostname, port if port is not None else _DEFAULT_PORTS.get(parts.scheme)


def _split_host(host: str, default_port: int | None) -> tuple[str, int | None] | None:
    """Give (host, port) of a ``Host`` header value."""
    try:
        parts = urlsplit("//" + host.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname, port if port is not None else default_port


class _Pattern:
    """One `Options.allowed_origins` entry: ``scheme://host[:port]``, ``host[:port]``, with
    ``*.`` in front of the host for every subdomain."""

    __slots__ = ("host", "port", "scheme", "subdomains")

    def __init__(self, entry: str) -> None:
        text = entry.strip().lower()
        scheme, sep, rest = text.partition("://")
        if not sep:
            scheme, rest = "", text
        rest = rest.removesuffix("/")
        self.subdomains = rest.startswith("*.")
        if self.subdomains:
            rest = rest[2:]
        split = _split_host(rest, None)
        if split is None or "*" in rest or (sep and not scheme) or "/" in rest or rest.endswith(":"):
            raise ValueError(
                f"allowed origin {entry!r} is not scheme://host[:port], host[:port], *.domain or '*'"
            )
        self.scheme = scheme
        self.host, port = split
        # Without a port, the entry means the default port of the origin's scheme.
        self.port = port if port is not None else _DEFAULT_PORTS.get(scheme)

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        if self.scheme and scheme != self.scheme:
            return False
        expected_port = self.port if self.port is not None or self.scheme else _DEFAULT_PORTS.get(scheme)
        if port != expected_port:
            return False
        if self.subdomains:
            return host.endswith("." + self.host)
        return host == self.host


class OriginPolicy:
    """Which web pages may open a connection, decided from the upgrade request's headers.

    With no entries, the policy is *same origin*: a request whose ``Origin`` names another
    host (and port) than its ``Host`` header is refused, as gorilla/websocket does for Go
    neffos. A request without ``Origin`` (not from a browser) is allowed either way. Entries
    (`Options.allowed_origins`) allow more: ``"https://app.example.com"`` (exactly that
    origin), ``"*.example.com"`` (its subdomains, any scheme), ``"localhost:3000"``, or
    ``"*"`` for every origin. Raise `ValueError` for an entry of another form.
    """

    __slots__ = ("_any", "_null", "_patterns")

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        entries = [entry.strip() for entry in allowed]
        self._any = ANY_ORIGIN in entries
        # Browsers send "null" from sandboxed frames and file:// pages; only an explicit entry allows it.
        self._null = "null" in entries
        self._patterns = tuple(_Pattern(e) for e in entries if e not in (ANY_ORIGIN, "null"))

    def allows(self, origin: str | None, host: str | None) -> bool:
        """Tell whether a request with these ``Origin`` and ``Host`` headers may connect."""
        if origin is None or self._any:
            return True
        if origin.strip().lower() == "null":
            return self._null
        split = _split_origin(origin)
        if split is None:
            return False
        scheme, origin_host, port = split
        if host is not None and _split_host(host, _DEFAULT_PORTS.get(scheme)) == (origin_host, port):
            return True
        return any(pattern.matches(scheme, origin_host, port) for pattern in self._patterns)


def clip(name: str, limit: int) -> str:
    """Cut *name* to at most *limit* UTF-8 bytes (to echo a peer's name without echoing megabytes)."""
    if len(name) <= limit // 4:
        return name
    return name.encode()[:limit].decode(errors="ignore")


def utf8_length(name: str) -> int:
    """Give the length of *name* in UTF-8 bytes."""
    return len(name) if name.isascii() else len(name.encode())


class Verdict(enum.IntEnum):
    """What `RateLimiter.admit` decides for one incoming message."""

    ADMIT = 0
    REFUSE = 1
    """Over the rate: answer an ask with an error, drop anything else."""
    CLOSE = 2
    """Still sending a whole burst past the rate: close the connection (1008)."""


class TokenBucket:
    """A token bucket that lets its count go negative: what is refused still counts.

    It holds up to *burst* tokens and gains *rate* per second. `spend` always takes the
    cost; a negative balance means "over the rate", one below ``-burst`` "persistently".
    """

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()

    def spend(self, cost: float, now: float) -> Verdict:
        """Take *cost* tokens at time *now* and say whether the peer stays within the rate."""
        tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate) - cost
        self._tokens = max(tokens, -2 * self._burst)  # a debt that is paid off in bounded time
        self._stamp = now
        if tokens >= 0:
            return Verdict.ADMIT
        return Verdict.CLOSE if tokens < -self._burst else Verdict.REFUSE


class RateLimiter:
    """Per-connection flood control: at most *messages* per second and *bytes* per second.

    Each has a burst of one second's worth (for bytes, at least *largest* so that one
    message of the largest size can pass). Either may be ``None`` (no limit).
    """

    __slots__ = ("_bytes", "_messages")

    def __init__(self, messages: float | None, byte_rate: float | None, largest: int) -> None:
        self._messages = TokenBucket(messages, max(messages, 1.0)) if messages else None
        self._bytes = TokenBucket(byte_rate, max(byte_rate, float(largest))) if byte_rate else None

    def admit(self, size: int) -> Verdict:
        """Account one incoming message of *size* bytes and decide what to do with it."""
        now = time.monotonic()
        verdict = Verdict.ADMIT
        if self._messages is not None:
            verdict = self._messages.spend(1.0, now)
        if self._bytes is not None:
            verdict = max(verdict, self._bytes.spend(size, now))
        return verdict
