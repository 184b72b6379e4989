"""`aioneffos.testing.connect` and `running`: a real `Server` session over memory, as a test uses it."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from aioneffos.framework import (
    ON_NATIVE_MESSAGE,
    Conn,
    ConnectionRefusedByPeerError,
    Message,
    NSConn,
    RemoteError,
    Server,
    get_request,
    setup,
)
from aioneffos.testing import Recorder, connect, running
from support.waiting import Inbox

REQUEST_KEY = web.AppKey("request_key", str)


async def describe_request(ns: NSConn, msg: Message) -> str:
    request = get_request(ns.conn)
    user = request.headers.get("X-User")
    return f"{request.method} {request.path} {dict(request.query)} {user} {request.remote}"


async def test_connect_runs_handshake_routing_and_replies_of_a_real_server() -> None:
    async def shout(ns: NSConn, msg: Message) -> str:
        if not msg.text:
            raise ValueError("say something")
        return msg.text.upper()

    server = Server({"default": {"shout": shout}})

    async with connect(server) as conn:
        ns = await conn.connect("default")
        reply = await ns.ask("shout", "hi")
        with pytest.raises(RemoteError) as refused:
            await ns.ask("shout", "")

    assert (conn.is_client, conn.id == reply.namespace, reply.text) == (True, False, "HI")
    assert refused.value.text == "say something"
    await server.close()


async def test_connect_gives_the_server_a_request_of_headers_query_and_remote() -> None:
    server = Server({"default": {"who": describe_request}})

    async with connect(
        server, headers={"X-User": "ann"}, query={"room": "lobby"}, remote="192.0.2.7", path="/chat"
    ) as conn:
        answer = await (await conn.connect("default")).ask("who")

    assert answer.text == "GET /chat {'room': 'lobby'} ann 192.0.2.7"
    await server.close()


async def test_connect_to_an_application_gives_requests_of_that_application() -> None:
    async def read_app(ns: NSConn, msg: Message) -> str:
        return get_request(ns.conn).app[REQUEST_KEY]

    app = web.Application()
    app[REQUEST_KEY] = "from the app"
    server = Server({"default": {"read": read_app}})
    setup(app, server)

    async with running(app), connect(app) as conn:
        answer = await (await conn.connect("default")).ask("read")

    assert answer.text == "from the app"
    assert not server.accepting  # the app's shutdown closed its server


async def test_connect_without_namespaces_declares_every_namespace_of_the_server() -> None:
    server = Server({"one": {}, "two": {}})

    async with connect(server) as conn:
        connected = [(await conn.connect(name)).namespace for name in ("one", "two")]

    assert connected == ["one", "two"]
    await server.close()


async def test_connect_client_handlers_answer_the_server_asks() -> None:
    answers = Inbox()

    async def on_connected(ns: NSConn, msg: Message) -> None:
        answers.put((await ns.ask("question", "ready?")).text)

    async def question(ns: NSConn, msg: Message) -> str:
        return f"yes to {msg.text}"

    server = Server({"default": {"_OnNamespaceConnected": on_connected}})

    async with connect(server, {"default": {"question": question}}) as conn:
        await conn.connect("default")
        answer = await answers.get()

    assert answer == "yes to ready?"
    await server.close()


async def test_connect_to_a_native_only_server_speaks_plain_frames() -> None:
    async def echo(ns: NSConn, msg: Message) -> bytes:
        return b"echo: " + msg.body

    server = Server({"": {ON_NATIVE_MESSAGE: echo}})
    rec = Recorder()

    async with connect(server, rec) as conn:
        conn.write_native("plain")
        got = await rec.next(ON_NATIVE_MESSAGE)

    assert (got.text, got.is_native) == ("echo: plain", True)
    await server.close()


async def test_connect_exits_once_the_server_has_finished_with_the_connection() -> None:
    ended: list[str] = []

    async def on_disconnect(conn: Conn) -> None:
        later = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(later.set_result, None)
        await later  # a hook that yields to the loop still finishes before connect exits
        ended.append(conn.id)

    async def goodbye(ns: NSConn, msg: Message) -> None:
        ended.append(f"{ns.namespace} left")

    server = Server({"default": {"_OnNamespaceDisconnect": goodbye}}, on_disconnect=on_disconnect)
    async with connect(server) as conn:
        await conn.connect("default")

    assert ended == ["default left", conn.id]
    assert server.total_connections == 0
    await server.close()


async def test_connect_says_when_the_server_does_not_finish_with_the_connection() -> None:
    never = asyncio.Event()

    async def on_disconnect(conn: Conn) -> None:
        await never.wait()

    server = Server({"default": {}}, on_disconnect=on_disconnect, close_timeout=0.05)

    with pytest.raises(TimeoutError, match="disconnect hook or on_disconnect is still running"):
        async with connect(server):
            pass
    never.set()
    await server.close()


async def test_connect_keeps_the_error_of_the_block_over_a_slow_server() -> None:
    never = asyncio.Event()

    async def on_disconnect(conn: Conn) -> None:
        await never.wait()

    server = Server({"default": {}}, on_disconnect=on_disconnect, close_timeout=0.05)

    with pytest.raises(KeyError, match="the test's own error"):
        async with connect(server):
            raise KeyError("the test's own error")
    never.set()
    await server.close()


async def test_connect_passes_on_the_refusals_of_the_server() -> None:
    def refuse(conn: Conn) -> None:
        raise PermissionError(f"no entry for {get_request(conn).headers.get('X-User')}")

    server = Server({"default": {}}, on_connect=refuse)

    with pytest.raises(ConnectionRefusedByPeerError, match="no entry for mallory"):
        async with connect(server, headers={"X-User": "mallory"}):
            pass
    await server.close()
    with pytest.raises(ConnectionRefusedError, match="websocket server is closed"):
        async with connect(server):
            pass


async def test_connect_refuses_an_application_without_a_server() -> None:
    with pytest.raises(TypeError, match=r"no aioneffos server: call setup\(app, server\)"):
        async with connect(web.Application()):
            pass


async def test_running_runs_startup_then_shutdown_and_cleanup() -> None:
    app = web.Application()
    calls: list[str] = []

    async def hook(name: str, _: web.Application) -> None:
        calls.append(name)

    app.on_startup.append(lambda a: hook("startup", a))
    app.on_shutdown.append(lambda a: hook("shutdown", a))
    app.on_cleanup.append(lambda a: hook("cleanup", a))

    async with running(app) as same:
        during = list(calls)

    assert (same is app, during, calls) == (True, ["startup"], ["startup", "shutdown", "cleanup"])
