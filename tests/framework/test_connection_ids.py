"""Connection ids a client cannot use to forge log lines or pages (docs/protocol.md#connection-ids).

The id comes from the request through the application's ``id_generator`` (here the ``X-Name``
header, as in Getting started, which browsers send as an ``X-Websocket-Header-X-Name`` query
parameter): an id that is empty, longer than 256 bytes or holds a character that is not
printable refuses the upgrade with 400 and a line saying why, logged once at INFO with the
id escaped. Real sockets over loopback; one case writes the raw HTTP request itself.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote, urlsplit

import aiohttp
import pytest
from aiohttp import web

from aioneffos.framework import Conn, Server, UpgradeRefusedError, accept_memory
from aioneffos.framework.websocket import MAX_ID_BYTES
from support.serving import RawConnect, Serve
from support.waiting import TIMEOUT


def name_of(request: web.Request) -> str:
    return request.headers.get("X-Name", "")


def named_server(connected: list[Conn]) -> Server:
    return Server({"default": {}}, id_generator=name_of, on_connect=connected.append)


async def refusal(session: aiohttp.ClientSession, url: str, name: str) -> tuple[int, str]:
    """Upgrade with *name* as a query header, as neffos.js sends it from a browser; give the
    HTTP status and text of the refusal."""
    async with session.get(
        f"{url}?X-Websocket-Header-X-Name={quote(name, safe='')}",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as response:
        return response.status, await response.text()


BAD_IDS = [
    pytest.param("eve\nINFO aioneffos.server: admin logged in", "U+000A", id="newline"),
    pytest.param("eve\r", "U+000D", id="carriage-return"),
    pytest.param("\x1b[31mred", "U+001B", id="terminal-escape"),
    pytest.param("eve\x00", "U+0000", id="nul"),
    pytest.param("eve\x7f", "U+007F", id="delete"),
    pytest.param("eve\x85", "U+0085", id="next-line-c1"),
    pytest.param("eve\u2028admin", "U+2028", id="line-separator"),
    pytest.param("\u202eeve", "U+202E", id="right-to-left-override"),
    pytest.param("ev\u200be", "U+200B", id="zero-width-space"),
    pytest.param("eve\tadmin", "U+0009", id="tab"),
]


@pytest.mark.parametrize(("name", "code_point"), BAD_IDS)
async def test_id_with_a_character_that_is_not_printable_refuses_the_upgrade_with_400(
    serve: Serve,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    name: str,
    code_point: str,
) -> None:
    connected: list[Conn] = []
    server = named_server(connected)
    url = await serve(server)
    caplog.set_level(logging.INFO)

    status, text = await refusal(session, url, name)

    assert (status, text) == (
        400,
        f"invalid connection id: it holds {code_point}, which is not a printable character",
    )
    assert (connected, server.total_connections) == ([], 0)
    logged = [r for r in caplog.records if r.name.startswith("aioneffos")]
    assert [(r.levelno, r.exc_info) for r in logged] == [(logging.INFO, None)]
    line = logged[0].getMessage()
    assert repr(name) in line  # escaped: the line holds no raw control character
    assert name not in line
    assert line.isprintable()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # no 500, no traceback


async def test_empty_id_refuses_the_upgrade_with_400(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(named_server([]))
    assert await refusal(session, url, "") == (400, "invalid connection id: it is empty")


async def test_id_over_256_bytes_refuses_the_upgrade_and_its_log_line_is_short(
    serve: Serve, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    url = await serve(named_server([]))
    caplog.set_level(logging.INFO)
    long_name = "é" * (MAX_ID_BYTES // 2) + "x"  # 129 characters, 257 bytes

    assert await refusal(session, url, long_name) == (
        400,
        "invalid connection id: it is longer than 256 bytes",
    )
    (line,) = [r.getMessage() for r in caplog.records if r.name == "aioneffos.server"]
    assert len(line) < 200


async def test_printable_ids_up_to_256_bytes_connect(serve: Serve, raw: RawConnect) -> None:
    # ";" is fine: the id travels only in A<id>, outside the seven-field format, and the bus
    # writes it in JSON and in hex in channel names.
    connected: list[Conn] = []
    url = await serve(named_server(connected))
    names = ["alice", "Zoë Ñúñez; team 7", "日本語 ✓", "é" * (MAX_ID_BYTES // 2)]

    peers = [await raw(f"{url}?X-Websocket-Header-X-Name={quote(name, safe='')}") for name in names]

    assert [peer.id for peer in peers] == names
    assert [str(conn) for conn in connected] == names


async def test_undecodable_header_byte_refuses_the_upgrade_with_400(serve: Serve) -> None:
    # A header byte that is not UTF-8 reaches the id generator as a lone surrogate: it could
    # not even be sent in A<id>. Written by hand: HTTP clients do not send such headers.
    url = urlsplit(await serve(named_server([])))
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: " + url.netloc.encode() + b"\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Name: eve\xff\r\n\r\n"
        )
        async with asyncio.timeout(TIMEOUT):
            answer = await reader.read(4096)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(
        b"\r\n\r\ninvalid connection id: it holds U+DCFF, which is not a printable character"
    )


async def test_in_memory_upgrade_with_a_bad_id_is_refused_the_same_way() -> None:
    server = Server({"default": {}}, id_generator=name_of)
    try:
        with pytest.raises(UpgradeRefusedError, match=r"^invalid connection id: it holds U\+000A") as caught:
            await accept_memory(server, headers={"X-Name": "eve\nfake"})
        assert (caught.value.status, isinstance(caught.value, ConnectionRefusedError)) == (400, True)
    finally:
        await server.close()
