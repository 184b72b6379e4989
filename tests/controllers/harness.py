"""Helpers of the controller and DI suites: serve an MVC application, dial it, collect events."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import types
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from aioneffos.controllers import Application
from aioneffos.framework import Conn, Message, NSConn, Server, handler, setup
from support.tools import REPO_ROOT

TIMEOUT = 5.0
Serve = Callable[..., Awaitable[str]]
ServeMvc = Callable[..., Awaitable[str]]
Dial = Callable[..., Awaitable[Conn]]


def mvc_application(cls: type[Application] = Application, prefix: str = "/ws", **kwargs: Any) -> Application:
    """Make an MVC application of class *cls* on a fresh aiohttp app."""
    return cls(web.Application(), prefix, **kwargs)


@pytest.fixture
def serve_mvc(serve: Serve) -> ServeMvc:
    """Serve an MVC application as the seed does (``Server(mvc_app)`` at the prefix); give its URL."""

    async def start(mvc_app: Application, **options: Any) -> str:
        server = Server(mvc_app, **options)
        mvc_app.router.add_get("/", handler(server))
        setup(mvc_app.app, server)
        return await serve(app=mvc_app.app, path=mvc_app.router.url("/"))

    return start


class Recorder:
    """Collects what handlers and dependencies report; `wait_for` an entry without sleeping."""

    def __init__(self) -> None:
        self.entries: list[Any] = []
        self._waiters: list[asyncio.Event] = []

    def __call__(self, entry: Any) -> None:
        self.entries.append(entry)
        for waiter in self._waiters:
            waiter.set()

    async def wait_for(self, entry: Any, timeout: float = TIMEOUT) -> None:
        """Wait until *entry* has been recorded."""
        async with asyncio.timeout(timeout):
            while entry not in self.entries:
                waiter = asyncio.Event()
                self._waiters.append(waiter)
                try:
                    await waiter.wait()
                finally:
                    self._waiters.remove(waiter)


def inbox(queue: asyncio.Queue[Message]) -> Callable[[NSConn, Message], Awaitable[None]]:
    """Make a client handler that puts every message it gets into *queue*."""

    async def put(ns: NSConn, msg: Message) -> None:
        queue.put_nowait(msg)

    return put


async def next_message(queue: asyncio.Queue[Message], timeout: float = TIMEOUT) -> Message:
    """Take the next message from *queue*, failing after *timeout*."""
    async with asyncio.timeout(timeout):
        return await queue.get()


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
