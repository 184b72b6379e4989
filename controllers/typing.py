"""Typing helpers shared by the controllers and DI layers (exported by ``aioneffos.controllers``).

Reading signatures and annotations happens once, at registration: these are the few
helpers that code needs on both sides of the `Injector` seam.
"""

from __future__ import annotations

import inspect
import typing
from typing import Annotated, Any

EMPTY: Any = inspect.Parameter.empty
"""No annotation, or no default (``inspect.Parameter.empty``)."""


def split_annotated(hint: Any) -> tuple[Any, tuple[object, ...]]:
    """Split ``Annotated[T, *meta]`` into ``(T, meta)``; other hints have no metadata."""
    if typing.get_origin(hint) is Annotated:
        return hint.__origin__, tuple(hint.__metadata__)
    return hint, ()


def type_name(annotation: Any) -> str:
    """Give a short readable name for *annotation* (a class, a generic alias or anything else)."""
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")


def is_awaitable(value: object) -> bool:
    """Tell whether *value* must be awaited, from its type only.

    `inspect.isawaitable` costs about 0.4 us on a plain value (an ABC check); this is
    the check the per-message path makes for every value a resolver gives.
    """
    return hasattr(type(value), "__await__")
