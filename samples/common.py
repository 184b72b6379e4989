"""What every sample shares: command-line options, the neffos.js route, pages and `run`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parent.parent
NEFFOS_JS_DIR = REPO_ROOT / "node_modules" / "neffos.js" / "dist"
"""Where ``npm ci`` (run by ``make demo``) puts the browser build of neffos.js."""
NEFFOS_JS_URL = "/neffos.js/neffos.js"
"""Pages import the client from here: ``import * as neffos from "/neffos.js/neffos.js"``."""

logger = logging.getLogger("samples")

PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_neffos_js(app: web.Application) -> None:
    """Serve ``node_modules/neffos.js/dist`` at ``/neffos.js/`` (or explain how to install it)."""
    if NEFFOS_JS_DIR.is_dir():
        app.router.add_static("/neffos.js/", NEFFOS_JS_DIR)
        return
    hint = f"{NEFFOS_JS_DIR} is missing: run `npm ci` in {REPO_ROOT} (or `make demo`)"
    logger.warning(hint)

    async def missing(_: web.Request) -> web.Response:
        return web.Response(status=404, text=hint)

    app.router.add_get("/neffos.js/{name}", missing)


def page(path: Path) -> PageHandler:
    """Make a handler that serves the file at *path* (a sample's HTML page or script)."""

    async def serve_page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(path, headers={"Cache-Control": "no-store"})

    return serve_page


def arguments(description: str) -> argparse.ArgumentParser:
    """Make a parser with ``--host`` (default 127.0.0.1) and ``--port`` (default 8080)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: %(default)s)")
    return parser


def run(app: web.Application, host: str, port: int, *, what: str) -> None:
    """Serve *app* until Ctrl+C or SIGTERM (the websocket peers then get 1001)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # aiohttp's access log would drown the sample's own lines.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    def say(_: str = "") -> None:
        print(f"{what}: open http://{host}:{port}/ (Ctrl+C to stop)", flush=True)

    try:
        web.run_app(app, host=host, port=port, print=say, access_log=None)
    except OSError as exc:  # most often: the port is taken
        reason = exc.strerror or exc
        raise SystemExit(f"cannot listen on {host}:{port}: {reason} (try another --port)") from None


async def stdin_lines() -> AsyncIterator[str]:
    """Yield the lines typed on stdin without blocking the event loop."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield line.decode().strip()
