"""Benchmark servers, one per process: raw aiohttp baselines and aioneffos, same routes.

Every server serves ``/ws`` (the websocket) and two control routes used by the load
generator: ``/stats`` (this process's CPU seconds, resident memory, wall clock and task
count; ``?gc=0`` skips the collection that comes first; with ``--tracemalloc`` the bytes
Python has allocated, as ``traced``) and ``/broadcast?size=N`` (send one
N-byte message to every connected client and report how long the send loop took).
Run: ``python -m bench.servers <kind> --port P [--loop uvloop] [--pings]``.

Pings are off unless ``--pings`` (then every kind pings every 25 s, aioneffos's default).
The ``*-metrics`` kinds are the same servers with Prometheus metrics on (``metrics.setup``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import attrs
from aiohttp import WSMsgType, web

from aioneffos.controllers import Controller, event_exact_matcher
from aioneffos.framework import Message, NSConn, Options, Server, handler, setup
from aioneffos.mvc import Application

AppFactory = Callable[[float | None], web.Application]
"""Builds a kind's app, given its ping interval (``None``: no pings)."""

KINDS: dict[str, AppFactory] = {}

BODIES: dict[str, str] = {"typed": '{"text":"hello"}'}
"""The body each ask carries, by kind (``hello`` when not listed): ``typed`` decodes JSON."""


def kind(name: str) -> Callable[[AppFactory], AppFactory]:
    """Register an app factory under *name*."""

    def register(factory: AppFactory) -> AppFactory:
        KINDS[name] = factory
        return factory

    return register


def rss_bytes() -> int:
    """Give this process's resident set size."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def raise_open_files() -> int:
    """Raise this process's open-file limit as far as it may go; give the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with open("/proc/sys/fs/nr_open") as nr_open:
        ceiling = int(nr_open.read())
    for wanted in ((ceiling, ceiling), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, wanted)
        except (ValueError, OSError):
            continue  # not privileged enough to raise the hard limit: try the next
        return wanted[0]
    return soft


class GcTimer:
    """Time spent in the cyclic garbage collector, by generation (a `gc.callbacks` entry)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds[info["generation"]] += time.process_time() - self._started
            self.count[info["generation"]] += 1


GC = GcTimer()


async def stats(request: web.Request) -> web.Response:
    tracked = None
    if request.query.get("gc", "1") != "0":
        gc.collect()
        tracked = len(gc.get_objects())
    return web.json_response(
        {
            "cpu": time.process_time(),
            "rss": rss_bytes(),
            "wall": time.monotonic(),
            "tasks": len(asyncio.all_tasks()),
            "gc_seconds": GC.seconds,
            "gc_count": GC.count,
            "tracked": tracked,
            "traced": tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None,
        }
    )


async def objects(_: web.Request) -> web.Response:
    """Count the objects the cyclic collector tracks, by type (to compare two moments)."""
    gc.collect()
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        name = type(obj).__qualname__
        counts[name] = counts.get(name, 0) + 1
    return web.json_response(counts)


@kind("raw")
def raw_app(pings: float | None) -> web.Application:
    """Raw aiohttp: echo every frame back; broadcast with a send_str loop (the floor)."""
    clients: set[web.WebSocketResponse] = set()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, heartbeat=pings)
        await ws.prepare(request)
        clients.add(ws)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await ws.send_str(msg.data)
        finally:
            clients.discard(ws)
        return ws

    async def broadcast(request: web.Request) -> web.Response:
        payload = ";default;;chat;0;0;" + "x" * int(request.query.get("size", "32"))
        started = time.perf_counter()
        for ws in list(clients):
            await ws.send_str(payload)
        return web.json_response({"seconds": time.perf_counter() - started, "sent": len(clients)})

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    app.router.add_get("/stats", stats)
    app.router.add_get("/broadcast", broadcast)
    app.router.add_get("/objects", objects)
    return app


def _control_routes(app: web.Application, server: Server) -> None:
    """Add ``/stats`` and ``/broadcast`` (one `Server.broadcast` to namespace "default")."""

    async def broadcast(request: web.Request) -> web.Response:
        body = b"x" * int(request.query.get("size", "32"))
        started = time.perf_counter()
        server.broadcast(Message("default", "chat", body))
        return web.json_response(
            {"seconds": time.perf_counter() - started, "sent": len(server.namespace_connections("default"))}
        )

    app.router.add_get("/stats", stats)
    app.router.add_get("/broadcast", broadcast)
    app.router.add_get("/objects", objects)
    setup(app, server)


def _metrics(app: web.Application, server: Server) -> None:
    """Serve Prometheus metrics of *server* at ``/metrics`` (the ``*-metrics`` kinds)."""
    from aioneffos.framework import metrics

    metrics.setup(app, server)


def _neffos_app(namespaces: Any, pings: float | None, *, with_metrics: bool = False) -> web.Application:
    server = Server(namespaces, ping_interval=pings)
    app = web.Application()
    app.router.add_get("/ws", handler(server))
    _control_routes(app, server)
    if with_metrics:
        _metrics(app, server)
    return app


async def _echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


@kind("neffos")
def neffos_app(pings: float | None) -> web.Application:
    """aioneffos with a plain `Events` handler that replies with the body it got."""
    return _neffos_app({"default": {"echo": _echo}}, pings)


@kind("neffos-metrics")
def neffos_metrics_app(pings: float | None) -> web.Application:
    """The ``neffos`` kind with Prometheus metrics on."""
    return _neffos_app({"default": {"echo": _echo}}, pings, with_metrics=True)


class Counter:
    """A per-event dependency of the ``mvc`` kind: a fresh one for every event."""

    def __init__(self) -> None:
        self.value = 0


class EchoController(Controller):
    """The ``mvc`` kind's controller: an ``On*`` method with an event-scope dependency."""

    namespace = "default"

    async def OnEcho(self, msg: Message, counter: Counter) -> bytes:
        counter.value += 1
        return msg.body


def _mvc_app(pings: float | None, *, with_metrics: bool = False) -> web.Application:
    app = web.Application()
    mvc = Application(app, "/ws")
    mvc.register(Counter)
    # The load generator asks the event "echo", as it does the other kinds.
    mvc.handle_websocket(EchoController).set_event_matcher(event_exact_matcher({"OnEcho": "echo"}))
    server = Server(mvc, ping_interval=pings)
    mvc.router.add_get("/", handler(server))
    _control_routes(app, server)
    if with_metrics:
        _metrics(app, server)
    return app


@kind("mvc")
def mvc_app(pings: float | None) -> web.Application:
    """An ``On*`` controller method with an event-scope dependency (DESIGN.md section 7)."""
    return _mvc_app(pings)


@kind("mvc-metrics")
def mvc_metrics_app(pings: float | None) -> web.Application:
    """The ``mvc`` kind with Prometheus metrics on."""
    return _mvc_app(pings, with_metrics=True)


@attrs.frozen
class Echo:
    """The ``typed`` kind's body and reply: ``{"text": "..."}``."""

    text: str


class TypedController(Controller):
    """The ``typed`` kind's controller: the body decoded into an attrs class, an attrs reply."""

    namespace = "default"

    async def OnEcho(self, echo: Echo) -> Echo:
        return echo


@kind("typed")
def typed_app(pings: float | None) -> web.Application:
    """An ``On*`` method with a typed body (attrs, decoded from JSON) and an attrs reply."""
    app = web.Application()
    mvc = Application(app, "/ws")
    mvc.handle_websocket(TypedController).set_event_matcher(event_exact_matcher({"OnEcho": "echo"}))
    server = Server(mvc, ping_interval=pings)
    mvc.router.add_get("/", handler(server))
    _control_routes(app, server)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--pings", action="store_true", help="ping every 25 s (aioneffos's default)")
    parser.add_argument(
        "--gc-threshold", type=int, help="gc.freeze() at start and this first collector threshold"
    )
    parser.add_argument(
        "--tracemalloc", action="store_true", help="trace allocations (/stats gives the traced bytes)"
    )
    args = parser.parse_args()
    raise_open_files()
    if args.tracemalloc:
        tracemalloc.start()
    gc.callbacks.append(GC)
    if args.gc_threshold:
        gc.freeze()
        gc.set_threshold(args.gc_threshold, 20, 100)
    loop = None
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    app = KINDS[args.kind](Options().ping_interval if args.pings else None)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, backlog=4096, loop=loop)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
