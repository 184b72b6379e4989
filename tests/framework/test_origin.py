"""The HTTP phase of an exposed server: origin policy, headers from the query, plain GETs."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from aioneffos.framework import Conn, Options, Server, get_request
from aioneffos.framework.limits import OriginPolicy
from aioneffos.framework.websocket import NOT_AN_UPGRADE
from support.serving import RawConnect, Serve
from support.waiting import Inbox


def _http(url: str) -> str:
    return "http" + url.removeprefix("ws")


def _host(url: str) -> str:
    return url.removeprefix("ws://").split("/")[0]


async def upgrade_status(session: aiohttp.ClientSession, url: str, **headers: str) -> int:
    """Try to upgrade with *headers*; give 101 when it worked, else the HTTP status."""
    try:
        ws = await session.ws_connect(url, headers=headers)
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status
    await ws.close()
    return 101


# -- the policy on its own ------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        pytest.param(None, "example.com", True, id="no-origin-not-a-browser"),
        pytest.param("https://example.com", "example.com", True, id="same-host-default-port"),
        pytest.param("http://127.0.0.1:8080", "127.0.0.1:8080", True, id="same-host-and-port"),
        pytest.param("HTTP://Example.COM:8080", "example.com:8080", True, id="case-insensitive"),
        pytest.param("https://example.com", "example.com:443", True, id="explicit-default-port"),
        pytest.param("http://[::1]:8080", "[::1]:8080", True, id="ipv6"),
        pytest.param("https://evil.example", "example.com", False, id="other-host"),
        pytest.param("http://127.0.0.1:9000", "127.0.0.1:8080", False, id="other-port"),
        pytest.param("https://example.com", "example.com:80", False, id="https-page-on-port-80"),
        pytest.param("https://sub.example.com", "example.com", False, id="subdomain-is-another-origin"),
        pytest.param("null", "example.com", False, id="null-origin"),
        pytest.param("not a url", "example.com", False, id="garbage"),
        pytest.param("https://example.com", None, False, id="origin-without-host"),
    ],
)
def test_origin_policy_default_is_same_origin(origin: str | None, host: str | None, allowed: bool) -> None:
    assert OriginPolicy().allows(origin, host) is allowed


@pytest.mark.parametrize(
    ("entries", "origin", "allowed"),
    [
        pytest.param(["https://app.example.com"], "https://app.example.com", True, id="exact"),
        pytest.param(
            ["https://app.example.com/"], "https://app.example.com", True, id="exact-trailing-slash"
        ),
        pytest.param(["https://app.example.com"], "http://app.example.com", False, id="exact-other-scheme"),
        pytest.param(
            ["https://app.example.com"], "https://app.example.com:8443", False, id="exact-other-port"
        ),
        pytest.param(["*.example.com"], "https://a.example.com", True, id="subdomain"),
        pytest.param(["*.example.com"], "http://a.b.example.com", True, id="deep-subdomain-any-scheme"),
        pytest.param(["*.example.com"], "https://example.com", False, id="subdomain-pattern-not-apex"),
        pytest.param(["*.example.com"], "https://badexample.com", False, id="suffix-is-not-subdomain"),
        pytest.param(["*.example.com"], "https://a.example.com:8443", False, id="subdomain-other-port"),
        pytest.param(
            ["https://*.example.com:8443"], "https://a.example.com:8443", True, id="pattern-with-port"
        ),
        pytest.param(["https://*.example.com"], "http://a.example.com", False, id="pattern-scheme"),
        pytest.param(["localhost:3000"], "http://localhost:3000", True, id="host-and-port"),
        pytest.param(["localhost:3000"], "http://localhost:3001", False, id="host-and-other-port"),
        pytest.param(["*"], "https://anything.example", True, id="star"),
        pytest.param(["*"], "null", True, id="star-allows-null"),
        pytest.param(["null"], "null", True, id="explicit-null"),
    ],
)
def test_origin_policy_allowed_origins(entries: list[str], origin: str, allowed: bool) -> None:
    assert OriginPolicy(entries).allows(origin, "server.example") is allowed


@pytest.mark.parametrize("entry", ["https://", "*example.com", "https://app.example.com/path", "a.*.com", ""])
def test_allowed_origins_malformed_entry_raises_at_construction(entry: str) -> None:
    with pytest.raises(ValueError, match="allowed origin"):
        Options(allowed_origins=[entry])


def test_allowed_origins_accepts_one_string() -> None:
    assert Options(allowed_origins="https://app.example.com").allowed_origins == ("https://app.example.com",)


# -- over HTTP --------------------------------------------------------------------------


async def test_cross_origin_upgrade_gets_403_before_the_upgrade(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Server({"default": {}}))
    async with session.get(
        _http(url),
        headers={
            "Origin": "https://evil.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as response:
        assert (response.status, await response.text()) == (403, "origin not allowed")


async def test_same_origin_and_no_origin_upgrade(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(Server({"default": {}}))
    assert await upgrade_status(session, url, Origin=f"http://{_host(url)}") == 101
    assert await upgrade_status(session, url) == 101


async def test_allowed_origins_admit_their_pages_only(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(Server({"default": {}}, allowed_origins=["https://app.example.com", "*.example.org"]))
    statuses = [
        await upgrade_status(session, url, Origin=origin)
        for origin in ("https://app.example.com", "https://www.example.org", "https://evil.example")
    ]
    assert statuses == [101, 101, 403]


async def test_allowed_origins_star_admits_every_page(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(Server({"default": {}}, allowed_origins="*"))
    assert await upgrade_status(session, url, Origin="https://evil.example") == 101


async def test_check_origin_hook_replaces_the_policy(serve: Serve, session: aiohttp.ClientSession) -> None:
    seen = Inbox()

    async def only_partner(request: web.Request) -> bool:
        seen.put(request.headers.get("Origin"))
        return request.headers.get("Origin") == "https://partner.example"

    url = await serve(Server({"default": {}}, check_origin=only_partner))
    assert await upgrade_status(session, url, Origin="https://partner.example") == 101
    # Even the server's own origin: the hook decides alone.
    assert await upgrade_status(session, url, Origin=f"http://{_host(url)}") == 403
    assert [await seen.get(), await seen.get()] == ["https://partner.example", f"http://{_host(url)}"]


async def test_origin_from_the_query_does_not_pass_the_check(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Server({"default": {}}))
    forged = f"{url}?X-Websocket-Header-Origin=http://{_host(url)}"
    assert await upgrade_status(session, forged, Origin="https://evil.example") == 403


async def test_forged_protected_headers_from_the_query_are_ignored(serve: Serve, raw: RawConnect) -> None:
    seen = Inbox()

    def on_connect(conn: Conn) -> None:
        headers = get_request(conn).headers
        names = ("Origin", "Host", "Cookie", "Authorization", "X-Forwarded-For", "X-Real-IP", "Forwarded")
        seen.put({name: headers.get(name) for name in names})

    url = await serve(
        Server({"default": {}}, on_connect=on_connect, id_generator=lambda r: r.headers["Host"])
    )
    query = "&".join(
        f"X-Websocket-Header-{name}={value}"
        for name, value in [
            ("Origin", "https://evil.example"),
            ("Host", "evil.example"),
            ("Cookie", "session=forged"),
            ("Authorization", "Bearer forged"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Real-IP", "6.6.6.6"),
            ("Forwarded", "for=6.6.6.6"),
        ]
    )
    peer = await raw(f"{url}?{query}", headers={"Cookie": "session=real"})
    assert await seen.get() == {
        "Origin": None,
        "Host": _host(url),
        "Cookie": "session=real",
        "Authorization": None,
        "X-Forwarded-For": None,
        "X-Real-IP": None,
        "Forwarded": None,
    }
    assert peer.id == _host(url)  # id_generator saw the real Host too


async def test_query_header_never_replaces_a_real_one(serve: Serve, raw: RawConnect) -> None:
    seen = Inbox()
    url = await serve(
        Server({"default": {}}, on_connect=lambda c: seen.put(get_request(c).headers.getall("X-Username")))
    )
    await raw(f"{url}?X-Websocket-Header-X-Username=mallory", headers={"X-Username": "alice"})
    assert await seen.get() == ["alice"]


async def test_plain_get_on_websocket_route_gets_426_with_a_text(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Server({"default": {}}))
    async with session.get(_http(url), headers={"Accept": "text/html"}) as response:
        assert (response.status, response.headers["Upgrade"], await response.text()) == (
            426,
            "websocket",
            NOT_AN_UPGRADE,
        )


async def test_broken_upgrade_still_gets_aiohttp_400(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(Server({"default": {}}))
    async with session.get(_http(url), headers={"Connection": "Upgrade", "Upgrade": "websocket"}) as response:
        assert response.status == 400


async def test_max_connections_answers_503_beyond(
    serve: Serve, raw: RawConnect, session: aiohttp.ClientSession
) -> None:
    url = await serve(Server({"default": {"echo": lambda ns, msg: msg.body}}, max_connections=2))
    first, second = await raw(url), await raw(url)
    async with session.get(
        _http(url),
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as response:
        assert (response.status, await response.text()) == (503, "too many connections")
    await first.connect("default")
    assert await first.ask("default", "echo", "served") == "$raw2;default;;echo;0;0;served"
    await second.close()
    third = await raw(url)  # a place came free
    assert third.id
