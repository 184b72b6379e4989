"""What every sample shares: command-line options, the neffos.js route, pages, `run` and `run_client`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from aioneffos.framework import ConnectionRefusedByPeerError, NeffosError

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


PORT_HINT = "SAMPLES_PORT_HINT"
"""Environment variable: how to pick another port, ``{port}`` standing for one (``make demo`` sets
``PORT={port} make demo``); by default ``--port {port}``."""


def fast_loop() -> asyncio.AbstractEventLoop | None:
    """Give a uvloop event loop when uvloop is installed (``pip install aioneffos[speed]``), else
    ``None``: asyncio's own loop. aioneffos runs the same on both; uvloop costs somewhat less
    CPU (docs/performance.md)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop()


def run(app: web.Application, host: str, port: int, *, what: str) -> None:
    """Serve *app* until Ctrl+C or SIGTERM (the websocket peers then get 1001).

    A port that cannot be listened on ends the program with one line saying how to pick
    another one (`PORT_HINT`) and exit code 1.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # aiohttp's access log would drown the sample's own lines.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

    def say(_: str = "") -> None:
        print(f"{what}: open http://{host}:{port}/ (Ctrl+C to stop)", flush=True)

    try:
        web.run_app(app, host=host, port=port, print=say, access_log=None, loop=fast_loop())
    except OSError as exc:  # most often: the port is taken
        raise SystemExit(cannot_listen(host, port, exc)) from None


def cannot_listen(host: str, port: int, error: OSError) -> str:
    """Give the one line that says *host*:*port* cannot be listened on, and what to try."""
    hint = (os.environ.get(PORT_HINT) or "--port {port}").format(port=port + 1)
    return f"cannot listen on {host}:{port}: {_os_reason(error)} (try another port: {hint})"


async def stdin_lines() -> AsyncIterator[str]:
    """Yield the lines typed on stdin without blocking the event loop."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield line.decode().strip()


class ExitError(Exception):
    """Ends a terminal client on purpose: its text is the one line printed (exit code 1)."""


def _os_reason(error: OSError) -> str:
    """Give the short reason of *error* ("connection refused", "address already in use")."""
    if isinstance(error, socket.gaierror) or not error.errno:
        return str(error.strerror or error)
    return os.strerror(error.errno).lower()


def run_client(main: Coroutine[Any, Any, None], url: str) -> None:
    """Run a terminal client's *main*: an expected failure ends it with one line and exit code 1.

    The server not running, a wrong ``--url``, a refusal or a `ExitError` print one line on
    stderr, not a traceback; Ctrl+C quits quietly, as Ctrl+D (end of input) does.
    """
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        pass
    except ExitError as exc:
        raise SystemExit(str(exc)) from None
    except aiohttp.ClientConnectorError as exc:
        raise SystemExit(f"cannot reach {url}: {_os_reason(exc.os_error)} (is the server running?)") from None
    except aiohttp.WSServerHandshakeError as exc:
        raise SystemExit(f"no websocket at {url}: the server answered {exc.status} (check --url)") from None
    except aiohttp.InvalidURL:
        raise SystemExit(f"not a websocket address: {url!r} (try ws://127.0.0.1:8080/ws)") from None
    except ConnectionRefusedByPeerError as exc:
        raise SystemExit(f"the server refused the connection: {exc}") from None
    except (NeffosError, aiohttp.ClientError) as exc:
        raise SystemExit(f"{url}: {exc or type(exc).__name__}") from None
