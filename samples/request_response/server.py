"""The server of the request_response sample: ``POST /ask`` asks every client at once.

Each client gets the question as a server ask (``ns.ask``) with its own timeout, all at
the same time; the answers, refusals (error replies), timeouts and vanished clients are
reported side by side. One slow client costs the poll its timeout, never more, and
never delays the others. (``server.ask`` is different: it returns the *first* reply.)
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

import attrs
from aiohttp import web

from aioneffos.controllers import Emit
from aioneffos.controllers.asyncapi import add_asyncapi_route
from aioneffos.framework import (
    SERVER_KEY,
    AskTimeoutError,
    NeffosError,
    NSConn,
    RemoteError,
    Server,
    WriteClosedError,
    handler,
    setup,
)
from samples.common import add_neffos_js, page

NAMESPACE = "default"
MAX_TIMEOUT = 30.0

logger = logging.getLogger("samples.request_response")


@attrs.frozen
class Answer:
    """What one client did with the question."""

    client: str
    status: str
    """``answered``, ``refused`` (an error reply), ``timed out`` or ``gone`` (disconnected)."""
    text: str = ""


async def ask_one(ns: NSConn, question: str, timeout: float) -> Answer:
    """Ask one client and classify the outcome; never raise for the client's behaviour."""
    who = ns.conn.id
    try:
        reply = await ns.ask("question", question, timeout=timeout)
    except AskTimeoutError:
        return Answer(who, "timed out")
    except RemoteError as exc:  # the client's handler returned or threw an Error
        return Answer(who, "refused", exc.text)
    except WriteClosedError:
        return Answer(who, "gone")
    except NeffosError as exc:  # e.g. the client left the namespace meanwhile
        return Answer(who, "gone", str(exc))
    return Answer(who, "answered", reply.text)


async def ask_everyone(server: Server, question: str, timeout: float) -> list[Answer]:
    """Ask every client of the namespace concurrently; give their answers sorted by client."""
    clients = list(server.namespace_connections(NAMESPACE))
    answers = await asyncio.gather(*(ask_one(ns, question, timeout) for ns in clients))
    return sorted(answers, key=lambda answer: answer.client)


async def ask(request: web.Request) -> web.Response:
    """``POST /ask`` with JSON ``{"question": str, "timeout": seconds}``; answer with the results."""
    try:
        data = await request.json()
        question = str(data["question"]).strip()
        timeout = float(data.get("timeout", 2.0))
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text='send JSON {"question": "...", "timeout": 2}') from None
    if not question or not 0 < timeout <= MAX_TIMEOUT:
        raise web.HTTPBadRequest(text=f"need a question and 0 < timeout <= {MAX_TIMEOUT:g}")
    started = time.monotonic()
    answers = await ask_everyone(request.app[SERVER_KEY], question, timeout)
    elapsed = round(time.monotonic() - started, 3)
    logger.info("asked %d clients %r in %.3fs", len(answers), question, elapsed)
    results = {"question": question, "timeout": timeout, "elapsed": elapsed}
    return web.json_response({**results, "answers": [attrs.asdict(answer) for answer in answers]})


def client_name(request: web.Request) -> str:
    """Name a connection after its ``X-Username`` header (neffos.js sends it as a query parameter)."""
    return request.headers.get("X-Username", "").strip()[:40] or f"guest-{uuid.uuid4().hex[:6]}"


def make_app() -> web.Application:
    """Build the app: the page at ``/``, websockets at ``/ws``, the poll at ``POST /ask``."""
    server = Server({NAMESPACE: {}}, id_generator=client_name)
    app = web.Application()
    app.router.add_get("/", page(Path(__file__).with_name("index.html")))
    app.router.add_get("/ws", handler(server))
    app.router.add_post("/ask", ask)
    add_neffos_js(app)
    setup(app, server)
    question = Emit("question", str, reply=str, summary="The poll's question; answer with text.")
    add_asyncapi_route(app, server, pathname="/ws", emits={NAMESPACE: [question]})
    return app
