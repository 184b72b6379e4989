"""A server process for the tests that measure a whole process: its memory under attack, and
how it ends on SIGTERM. Run: ``python -m tests.framework.exposed_app --port N [--options JSON]``.

It serves ``/ws`` with default options (or those given) through ``web.run_app``, as a
deployment does, and ``/stats`` (connections, rooms). Peers sending the ``X-Stuck`` header
get a 4 KiB send buffer, so what they do not read stays in this process's memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket

from aiohttp import web

from aioneffos.framework import Conn, Message, NSConn, Server, WriteClosedError, get_request, handler, setup


def _stuck_buffers(conn: Conn) -> None:
    request = get_request(conn)
    if "X-Stuck" in request.headers and request.transport is not None:
        request.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


async def ask_back(ns: NSConn, msg: Message) -> str:
    """Ask the caller a question and reply with its answer: a handler awaiting its own ask."""
    return (await ns.ask("question", timeout=60)).text


async def sleep(ns: NSConn, msg: Message) -> None:
    await asyncio.sleep(float(msg.text))


def fill(ns: NSConn, msg: Message) -> None:
    """Emit the caller N frames of 64 KiB (fewer if it is closed as a slow consumer meanwhile)."""
    with contextlib.suppress(WriteClosedError):
        for _ in range(int(msg.text)):
            ns.emit("filler", b"x" * 65536)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--options", default="{}")
    args = parser.parse_args()
    server = Server(
        {"default": {"echo": echo, "ask_back": ask_back, "sleep": sleep, "fill": fill}},
        on_connect=_stuck_buffers,
        **json.loads(args.options),
    )

    async def stats(_: web.Request) -> web.Response:
        rooms = sum(len(ns.rooms) for conn in server.connections for ns in conn.namespaces.values())
        return web.json_response({"connections": server.total_connections, "rooms": rooms})

    app = web.Application()
    app.router.add_get("/ws", handler(server))
    app.router.add_get("/stats", stats)
    setup(app, server)
    web.run_app(
        app, host="127.0.0.1", port=args.port, print=lambda _: print("ready", flush=True), access_log=None
    )


if __name__ == "__main__":
    main()
