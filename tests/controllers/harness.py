"""Helpers of the controller and DI suites: an MVC application on a fresh app, guide code as modules."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from aioneffos.controllers import BaseApplication
from support import readme


def mvc_application(
    cls: type[BaseApplication] = BaseApplication, prefix: str = "/ws", **kwargs: Any
) -> BaseApplication:
    """Make an MVC application of class *cls* on a fresh aiohttp app."""
    return cls(web.Application(), prefix, **kwargs)


def guide_python_blocks(page: str) -> list[str]:
    """Give the ```python blocks of the guide *page* (``docs/guides/<page>.md``), in order."""
    return readme.blocks("python", doc=f"docs/guides/{page}.md")


@contextlib.contextmanager
def module_from(code: str, name: str) -> Iterator[types.ModuleType]:
    """Run *code* as module *name* (registered, so annotations resolve); unregister it afterwards."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(code, f"<guide {name}>", "exec"), module.__dict__)
        yield module
    finally:
        del sys.modules[name]
