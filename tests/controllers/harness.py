"""Helpers of the controller and DI suites: an MVC application on a fresh app, README code as modules."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from aioneffos.controllers import BaseApplication
from support.tools import REPO_ROOT


def mvc_application(
    cls: type[BaseApplication] = BaseApplication, prefix: str = "/ws", **kwargs: Any
) -> BaseApplication:
    """Make an MVC application of class *cls* on a fresh aiohttp app."""
    return cls(web.Application(), prefix, **kwargs)


def readme_python_blocks(section: str) -> list[str]:
    """Give the ```python blocks of README.md's ``## <section>`` section, in order."""
    text = (REPO_ROOT / "README.md").read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else len(text)]
    return [block.split("\n```", 1)[0] for block in body.split("```python\n")[1:]]


@contextlib.contextmanager
def module_from(code: str, name: str) -> Iterator[types.ModuleType]:
    """Run *code* as module *name* (registered, so annotations resolve); unregister it afterwards."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(code, f"<README {name}>", "exec"), module.__dict__)
        yield module
    finally:
        del sys.modules[name]
