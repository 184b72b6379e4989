"""The plugin's fixtures, used by this suite as a user's suite uses them (the plugin is
installed with the package, through its ``pytest11`` entry point)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from aioneffos.framework import Conn, Message, NSConn, Server, get_request, handler, setup
from aioneffos.testing import Clients, Recorder, SocketClients

STARTED = web.AppKey("started", list)


async def whoami(ns: NSConn, msg: Message) -> str:
    request = get_request(ns.conn)
    return f"{request.headers.get('X-User')} {request.query.get('via')} {request.remote}"


def greeting_app() -> web.Application:
    app = web.Application()
    app[STARTED] = []
    server = Server({"default": {"whoami": whoami}})
    app.router.add_get("/ws", handler(server))
    setup(app, server)

    async def started(app: web.Application) -> None:
        app[STARTED].append("startup")

    app.on_startup.append(started)
    return app


async def test_neffos_client_connects_in_memory_with_headers_query_and_remote(neffos_client: Clients) -> None:
    server = Server({"default": {"whoami": whoami}})

    conn = await neffos_client(server, headers={"X-User": "ann"}, query={"via": "memory"}, remote="192.0.2.1")
    answer = await (await conn.connect("default")).ask("whoami")

    assert answer.text == "ann memory 192.0.2.1"


async def test_neffos_client_runs_an_application_once_for_all_its_clients(neffos_client: Clients) -> None:
    app = greeting_app()

    first = await neffos_client(app, headers={"X-User": "ann"})
    second = await neffos_client(app, headers={"X-User": "bob"})
    answers = [(await (await conn.connect("default")).ask("whoami")).text for conn in (first, second)]

    assert (answers, app[STARTED]) == (["ann None 127.0.0.1", "bob None 127.0.0.1"], ["startup"])


async def test_neffos_aiohttp_client_dials_an_application_over_a_real_socket(
    neffos_aiohttp_client: SocketClients,
) -> None:
    app = greeting_app()
    rec = Recorder()

    conn = await neffos_aiohttp_client(app, rec, headers={"X-User": "ann"}, query={"via": "tcp"})
    answer = await (await conn.connect("default")).ask("whoami")

    assert answer.text == "ann tcp 127.0.0.1"
    assert app[STARTED] == ["startup"]


async def test_neffos_aiohttp_client_mounts_a_bare_server(neffos_aiohttp_client: SocketClients) -> None:
    server = Server({"default": {"whoami": whoami}})

    conn = await neffos_aiohttp_client(server, path="/socket", headers={"X-User": "cy"})
    answer = await (await conn.connect("default")).ask("whoami")

    assert (answer.text, server.total_connections) == ("cy None 127.0.0.1", 1)


# -- teardown: what the fixtures opened is closed ---------------------------------------------

OPENED: list[tuple[Conn, Server]] = []


@pytest.fixture
async def check_closed() -> AsyncIterator[None]:
    """After the test's fixtures are torn down, every client they opened is closed."""
    OPENED.clear()
    yield
    # Runs after neffos_client's teardown: it was requested after this fixture.
    states = [(conn.is_closed, server.total_connections) for conn, server in OPENED]
    assert states == [(True, 0)] * len(OPENED)


async def test_neffos_client_closes_its_clients_at_teardown(
    check_closed: None, neffos_client: Clients
) -> None:
    server = Server({"default": {}})
    conn = await neffos_client(server)
    await conn.connect("default")
    OPENED.append((conn, server))

    assert server.total_connections == 1


async def test_neffos_client_close_returns_once_the_server_has_finished(neffos_client: Clients) -> None:
    ended: list[str] = []

    async def on_disconnect(conn: Conn) -> None:
        later = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(later.set_result, None)
        await later  # a hook that yields to the loop still finishes before close returns
        ended.append(conn.id)

    server = Server({"default": {}}, on_disconnect=on_disconnect)
    conn = await neffos_client(server)

    await neffos_client.close(conn)

    assert (ended, conn.is_closed, server.total_connections) == ([conn.id], True, 0)
    with pytest.raises(ValueError, match="not a client these fixtures opened, or it is closed already"):
        await neffos_client.close(conn)


async def test_neffos_client_names_a_factory_given_instead_of_its_application(neffos_client: Clients) -> None:
    with pytest.raises(TypeError, match=r"got <function greeting_app .*> \(call it: greeting_app\(\)\)$"):
        await neffos_client(greeting_app)  # type: ignore[arg-type]
