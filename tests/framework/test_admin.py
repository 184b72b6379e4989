"""The admin API as an attacker and an operator see it: refused without the token on every
route, the token never logged, a JSON view of the server, a disconnect that needs the token."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from aioneffos.framework import Conn, Message, NSConn, Server, admin
from support.serving import Dial, Serve
from support.waiting import Inbox

TOKEN = "s3cret-admin-token-for-tests"
API_ROUTES = [("GET", "api/state"), ("HEAD", "api/state"), ("POST", "api/disconnect")]
PAGE_ROUTES = ["", "/admin.js", "/admin.css", "/icon.svg"]


def chat_server(**options: Any) -> Server:
    return Server({"chat": {}}, id_generator=lambda request: request.headers["X-Id"], **options)


async def serve_admin(serve: Serve, server: Server, **settings: Any) -> tuple[str, URL]:
    """Serve *server* at /ws with the admin page at /admin; give the ws URL and the admin URL."""
    app = web.Application()
    admin.setup(app, server, **({"token": TOKEN} | settings))
    ws_url = await serve(server, app=app)
    return ws_url, URL(ws_url).with_scheme("http").with_path("/admin")


async def call(
    session: aiohttp.ClientSession, method: str, url: URL, *, token: str | None = TOKEN, **kwargs: Any
) -> tuple[int, Any]:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with session.request(method, url, headers=headers, **kwargs) as response:
        if method == "HEAD" or response.content_type != "application/json":
            return response.status, None
        return response.status, await response.json()


@pytest.mark.parametrize(
    "settings",
    [{"token": None}, {"token": TOKEN, "check": lambda r: True}, {"token": "short"}, {"path": "/ad min"}],
    ids=["neither", "both", "short-token", "bad-path"],
)
def test_admin_setup_refuses_unsafe_settings(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"admin"):
        admin.setup(web.Application(), chat_server(), **({"token": TOKEN} | settings))


@pytest.mark.parametrize(("method", "route"), API_ROUTES)
@pytest.mark.parametrize(
    "credentials",
    [
        {"token": None},
        {"token": "not-the-token-at-all"},
        {"token": TOKEN[:-1]},
        {"token": None, "headers": {"Authorization": f"Basic {TOKEN}"}},
        {"token": None, "params": {"token": TOKEN}},
        {"token": None, "cookies": {"token": TOKEN}},
    ],
    ids=["none", "wrong", "prefix", "basic-scheme", "query-string", "cookie"],
)
async def test_every_admin_api_route_is_refused_without_the_token(
    serve: Serve, clients: Dial, method: str, route: str, credentials: dict[str, Any]
) -> None:
    server = chat_server()
    ws_url, base = await serve_admin(serve, server)
    conn = await clients(ws_url, {"chat": {}}, headers={"X-Id": "victim"})
    async with aiohttp.ClientSession() as session:
        status, body = await call(session, method, base / route, json={"key": conn.key}, **credentials)
    assert status == 401
    if method != "HEAD":
        assert body == {"error": "the admin API needs a valid token (Authorization: Bearer ...)"}
    assert (conn.is_closed, server.total_connections) == (False, 1)


async def test_admin_page_files_hold_no_connection_data(
    serve: Serve, clients: Dial, session: aiohttp.ClientSession
) -> None:
    ws_url, base = await serve_admin(serve, chat_server())
    await clients(ws_url, {"chat": {}}, headers={"X-Id": "someone-private"})
    for route in PAGE_ROUTES:
        async with session.get(f"{base}{route}") as response:
            text = await response.text()
            assert response.status == 200
            assert "someone-private" not in text
            assert TOKEN not in text
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_admin_state_shows_connections_rooms_queues_asks_and_exchange(
    serve: Serve, clients: Dial, session: aiohttp.ClientSession
) -> None:
    server = chat_server()
    ws_url, base = await serve_admin(serve, server)
    asked, release = asyncio.Event(), asyncio.Event()

    async def slow(ns: NSConn, msg: Message) -> str:
        asked.set()
        await release.wait()
        return "late"

    alice = await clients(ws_url, {"chat": {}}, headers={"X-Id": "alice"})
    bob = await clients(ws_url, {"chat": {"slow": slow}}, headers={"X-Id": "bob"})
    await (await alice.connect("chat")).join_room("lobby")
    bob_ns = await bob.connect("chat")
    await bob_ns.join_room("lobby")
    await bob_ns.join_room("kitchen")
    server_bob = server.connection("bob")
    assert server_bob is not None
    pending = asyncio.ensure_future(server_bob.namespaces["chat"].ask("slow"))
    await asyncio.wait_for(asked.wait(), 5)

    status, state = await call(session, "GET", base / "api/state")
    release.set()
    await pending

    assert status == 200
    by_id = {conn["id"]: conn for conn in state["connections"]}
    assert (state["node"], state["accepting"], state["ready"], state["total"]) == (
        server.node_id,
        True,
        True,
        2,
    )
    assert state["exchange"] == {
        "kind": "LocalExchange",
        "healthy": True,
        "health": "up",
        "broker": None,
        "peers": [],
        "counts": {},
    }
    assert by_id["bob"]["namespaces"] == {"chat": ["kitchen", "lobby"]}
    assert (by_id["bob"]["asks_in_flight"], by_id["alice"]["asks_in_flight"]) == (1, 0)
    assert by_id["alice"]["remote"] == "127.0.0.1"
    assert (by_id["alice"]["queued_frames"], by_id["alice"]["queued_bytes"], by_id["alice"]["closing"]) == (
        0,
        0,
        False,
    )
    assert state["rooms"] == [
        {"namespace": "chat", "room": "kitchen", "count": 1, "members": ["bob"]},
        {"namespace": "chat", "room": "lobby", "count": 2, "members": ["alice", "bob"]},
    ]


async def test_admin_disconnect_closes_that_connection_with_1008(
    serve: Serve, clients: Dial, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gone = Inbox()
    server = chat_server(on_disconnect=lambda conn: gone.put(conn.id))
    ws_url, base = await serve_admin(serve, server)
    stays = await clients(ws_url, {"chat": {}}, headers={"X-Id": "stays"})
    kicked = await clients(ws_url, {"chat": {}}, headers={"X-Id": "kicked"})
    target = server.connection("kicked")
    assert target is not None

    assert await call(session, "POST", base / "api/disconnect", json={"key": target.key}) == (
        200,
        {"closing": "kicked"},
    )

    assert await gone.get() == "kicked"
    await asyncio.wait_for(kicked.wait_closed(), 5)
    assert (kicked.close_code, stays.is_closed, server.total_connections) == (1008, False, 1)
    assert "administrator at 127.0.0.1 closes <Conn 'kicked'" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"json": {"key": "no-such-key"}}, 404),
        ({"json": {"id": "x"}}, 400),
        ({"json": ["x"]}, 400),
        ({"data": "key=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415),
        ({"data": "not json", "headers": {"Content-Type": "application/json"}}, 400),
    ],
    ids=["unknown-key", "no-key", "not-an-object", "form", "bad-json"],
)
async def test_admin_disconnect_with_the_token_but_a_bad_request_closes_nothing(
    serve: Serve, clients: Dial, session: aiohttp.ClientSession, kwargs: dict[str, Any], expected: int
) -> None:
    server = chat_server()
    ws_url, base = await serve_admin(serve, server)
    conn = await clients(ws_url, {"chat": {}}, headers={"X-Id": "x"})
    status, body = await call(session, "POST", base / "api/disconnect", **kwargs)
    assert (status, sorted(body)) == (expected, ["error"])
    assert (conn.is_closed, server.total_connections) == (False, 1)


async def test_admin_refusals_are_logged_once_per_address_and_never_with_the_token(
    serve: Serve, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, base = await serve_admin(serve, chat_server())
    for guess in ("guess-1-xxxxxxxxxxxx", "guess-2-xxxxxxxxxxxx", TOKEN + "x"):
        assert (await call(session, "GET", base / "api/state", token=guess))[0] == 401
    assert (await call(session, "GET", base / "api/state"))[0] == 200

    refusals = [r.getMessage() for r in caplog.records if r.name == "aioneffos.admin"]
    assert refusals == ["refused GET /admin/api/state from 127.0.0.1: no valid admin token"]
    assert "guess-1" not in caplog.text
    assert TOKEN not in caplog.text


async def test_admin_check_callable_decides_instead_of_a_token(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    async def from_proxy(request: web.Request) -> bool:
        return request.headers.get("X-Auth-User") == "ops"  # set by an authenticating proxy

    _, base = await serve_admin(serve, chat_server(), token=None, check=from_proxy)
    assert (await call(session, "GET", base / "api/state", token=None))[0] == 401
    ok = await call(session, "GET", base / "api/state", token=None, headers={"X-Auth-User": "ops"})
    assert ok[0] == 200


async def test_admin_state_lists_at_most_max_connections(
    serve: Serve, clients: Dial, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin, "MAX_CONNECTIONS", 2)
    ws_url, base = await serve_admin(serve, chat_server())
    conns: list[Conn] = [await clients(ws_url, {"chat": {}}, headers={"X-Id": f"c{i}"}) for i in range(3)]
    _, state = await call(session, "GET", base / "api/state")
    assert (len(state["connections"]), state["total"], len(conns)) == (2, 3, 3)
