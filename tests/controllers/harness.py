"""Helpers of the controller and DI suites: serve an MVC application, dial it, collect events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from aioneffos.controllers import Application
from aioneffos.framework import Conn, Message, NSConn, Server, dial, handler, setup

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


@pytest.fixture
async def clients() -> AsyncIterator[Dial]:
    """Dial our Python client (namespace ``default`` declared unless told); closed at teardown."""
    opened: list[Conn] = []

    async def open_client(url: str, namespaces: Any = None, **kwargs: Any) -> Conn:
        conn = await dial(url, namespaces if namespaces is not None else {"default": {}}, **kwargs)
        opened.append(conn)
        return conn

    yield open_client
    for conn in opened:
        await conn.close()


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
