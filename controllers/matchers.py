"""Event matchers: which controller methods become events, and under which names.

A matcher is given each public method name of a controller (system methods such as
``OnNamespaceConnected`` excepted, as in neffos ``Struct.SetEventMatcher``) and returns
the event name, or ``None`` to leave the method out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

import attrs


class EventMatcher(Protocol):
    """Map a method name to an event name, or to ``None`` when it is no event."""

    def __call__(self, method_name: str) -> str | None: ...


@attrs.frozen
class PrefixMatcher:
    """Keep methods whose names start with *prefix*, under their own names (neffos ``EventPrefixMatcher``)."""

    prefix: str

    def __call__(self, method_name: str) -> str | None:
        """Give *method_name* itself when it starts with the prefix."""
        return method_name if method_name.startswith(self.prefix) else None


@attrs.frozen
class TrimPrefixMatcher:
    """Keep methods whose names start with *prefix*, without it (neffos ``EventTrimPrefixMatcher``)."""

    prefix: str

    def __call__(self, method_name: str) -> str | None:
        """Give *method_name* without the prefix (``OnChat`` -> ``Chat``); nothing when that is empty."""
        if not method_name.startswith(self.prefix) or method_name == self.prefix:
            return None
        return method_name[len(self.prefix) :]


@attrs.frozen
class AllMatcher:
    """Keep every public method under its own name (neffos ``NewStruct`` without a matcher)."""

    def __call__(self, method_name: str) -> str | None:
        """Give *method_name* itself."""
        return method_name


@attrs.frozen
class ExactMatcher:
    """Keep exactly the listed methods, each under its own name or the name it is mapped to."""

    names: Mapping[str, str]

    def __call__(self, method_name: str) -> str | None:
        """Give the event name of a listed method."""
        return self.names.get(method_name)


def event_prefix_matcher(prefix: str = "On") -> EventMatcher:
    """Match methods starting with *prefix* and keep their names (the default, with ``"On"``)."""
    return PrefixMatcher(prefix)


def event_trim_prefix_matcher(prefix: str = "On") -> EventMatcher:
    """Match methods starting with *prefix* and strip it: ``OnChat`` answers event ``Chat``."""
    return TrimPrefixMatcher(prefix)


def event_all_matcher() -> EventMatcher:
    """Match every public method under its own name: neffos's default, where a struct's methods
    are all events (``ChatResponse`` answers ``"ChatResponse"``)."""
    return AllMatcher()


def event_exact_matcher(names: Iterable[str] | Mapping[str, str]) -> EventMatcher:
    """Match only the methods in *names*: verbatim, or renamed by a ``{method: event}`` mapping."""
    mapping = dict(names) if isinstance(names, Mapping) else {name: name for name in names}
    return ExactMatcher(mapping)


DEFAULT_MATCHER: EventMatcher = PrefixMatcher("On")
"""``On*`` methods are events, named verbatim, so neffos.js clients of Iris apps work unchanged."""
