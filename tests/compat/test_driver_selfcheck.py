"""Self-check of the neffos.js Node driver against a tiny hand-written neffos server.

The fake server below speaks raw neffos frames (docs/protocol.md#wire-format) just well
enough to prove that the harness drives the real neffos.js 0.1.34 correctly, before and
independently of the real Python server.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import attrs
import pytest
from aiohttp import WSMsgType, web

from compat.node_client import (
    RECORD,
    REPO_ROOT,
    ClientNamespaces,
    CommandError,
    DriverTimeoutError,
    LeaveResult,
    NodeConn,
    NodeDriver,
    error,
    raw_value,
    reply,
    reply_binary,
    require_node,
    throw,
)
from support.waiting import TIMEOUT

Frame = str | bytes
SYSTEM_REQUESTS = ("_OnNamespaceConnect", "_OnNamespaceDisconnect", "_OnRoomJoin", "_OnRoomLeave")

# ----------------------------------------------------------------- fake server


def _fields(frame: Frame) -> list[str] | None:
    """Split a frame into the seven neffos fields (body decoded leniently), or None."""
    text = frame.decode(errors="replace") if isinstance(frame, bytes) else frame
    parts = text.split(";", 6)
    return parts if len(parts) == 7 else None


@attrs.define(eq=False)
class FakeConn:
    """One accepted websocket: auto-answers system asks and ``echo``; records every frame."""

    id: str
    request: web.Request
    ws: web.WebSocketResponse
    received: list[Frame] = attrs.Factory(list)
    _changed: asyncio.Condition = attrs.Factory(asyncio.Condition)

    async def send(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def expect(self, predicate: Callable[[Frame], bool]) -> Frame:
        """The first received frame matching *predicate*, waiting for it if needed."""
        async with asyncio.timeout(TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: any(map(predicate, self.received)))
        return next(f for f in self.received if predicate(f))

    async def handle(self, frame: Frame) -> None:
        async with self._changed:
            self.received.append(frame)
            self._changed.notify_all()
        fields = _fields(frame)
        if fields is None:
            return
        wait, ns, room, event = fields[:4]
        if event == "echo":  # like a Go handler returning neffos.Reply(msg.Body): same frame back
            await self.send(frame)
        elif event == "fail" and wait:
            await self.send(f"{wait};{ns};{room};fail;1;0;custom; failure")
        elif event == "emptyerr" and wait:
            # isError=1 without text: never do this (docs/protocol.md#error-text-never-empty)
            await self.send(f"{wait};{ns};{room};emptyerr;1;0;")
        elif event == "_OnNamespaceConnect" and wait and ns == "forbidden":
            await self.send(f"{wait};{ns};;_OnNamespaceConnect;1;0;not allowed")
        elif event in SYSTEM_REQUESTS and wait:
            await self.send(f"{wait};;;;;;")  # the empty reply: request accepted


@attrs.define(eq=False)
class FakeNeffosServer:
    """A loopback aiohttp server on an ephemeral port answering the neffos handshake."""

    refuse: str | None = None
    conns: list[FakeConn] = attrs.Factory(list)
    head_requests: int = 0
    _runner: web.AppRunner | None = None
    _port: int = 0
    _ids: itertools.count[int] = attrs.Factory(lambda: itertools.count(1))
    _accepted: asyncio.Condition = attrs.Factory(asyncio.Condition)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/ws"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/ws", self._endpoint)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def conn(self, index: int) -> FakeConn:
        """The *index*-th accepted (acknowledged) connection, waiting for it if needed."""
        async with asyncio.timeout(TIMEOUT), self._accepted:
            await self._accepted.wait_for(lambda: len(self.conns) > index)
        return self.conns[index]

    async def _endpoint(self, request: web.Request) -> web.StreamResponse:
        if request.method == "HEAD":  # neffos.js reconnect probe (docs/protocol.md#reconnection)
            self.head_requests += 1
            return web.Response()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await ws.receive()
        if first.type != WSMsgType.TEXT or first.data != "M":
            await ws.close(code=1002)
            return ws
        if self.refuse is not None:
            await ws.send_str("H" + self.refuse)
            await ws.close(code=1008)
            return ws
        conn = FakeConn(id=f"conn-{next(self._ids)}", request=request, ws=ws)
        await ws.send_str("A" + conn.id)
        async with self._accepted:
            self.conns.append(conn)
            self._accepted.notify_all()
        async for msg in ws:
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await conn.handle(msg.data)
        return ws


# ----------------------------------------------------------------- fixtures

NAMESPACES: ClientNamespaces = {
    "default": {
        "echo": RECORD,
        "question": reply("fine, thanks"),
        "bin": reply_binary(b"\x00\x01"),
    },
    "forbidden": {},
}


@pytest.fixture
async def server() -> AsyncIterator[FakeNeffosServer]:
    srv = FakeNeffosServer()
    await srv.start()
    yield srv
    await srv.close()


@pytest.fixture
async def driver() -> AsyncIterator[NodeDriver]:
    require_node()
    async with NodeDriver.start(default_timeout=TIMEOUT) as drv:
        yield drv


@pytest.fixture
async def client(server: FakeNeffosServer, driver: NodeDriver) -> NodeConn:
    c = await driver.dial(server.url, NAMESPACES)
    await c.connect("default")
    return c


# ----------------------------------------------------------------- tests


async def test_driver_loads_pinned_neffos_js_from_node_modules(driver: NodeDriver) -> None:
    assert driver.info["neffosVersion"] == "0.1.34"
    assert driver.info["neffosPath"] == str(REPO_ROOT / "node_modules/neffos.js/package.json")


async def test_dial_and_connect_report_id_and_lifecycle_events(
    server: FakeNeffosServer, driver: NodeDriver
) -> None:
    c = await driver.dial(server.url, NAMESPACES)
    assert c.id == "conn-1"
    await c.connect("default")

    before = await c.wait_for("_OnNamespaceConnect", ns="default")
    after = await c.wait_for("_OnNamespaceConnected", ns="default")
    assert (before.is_local, after.is_local) == (True, True)
    assert (after.conn, after.conn_id) == (c.handle, "conn-1")
    state = await c.state()
    assert (state.namespaces, state.is_acknowledged) == ({"default": []}, True)


async def test_ask_resolves_with_the_echoed_reply(server: FakeNeffosServer, client: NodeConn) -> None:
    answer = await client.ask("default", "echo", "ping;1")

    assert (answer.body, answer.binary, answer.event) == ("ping;1", False, "echo")
    frame = await (await server.conn(0)).expect(lambda f: ";default;;echo;" in str(f))
    assert isinstance(frame, str)
    assert frame.startswith("$")
    assert frame.endswith(";0;0;ping;1")


async def test_ask_error_reply_rejects_with_its_text(client: NodeConn) -> None:
    with pytest.raises(CommandError) as info:
        await client.ask("default", "fail", "x")
    assert (info.value.message, info.value.error_type) == ("custom; failure", "Error")


async def test_ask_rejected_with_undefined_is_reported_as_such(client: NodeConn) -> None:
    with pytest.raises(CommandError) as info:
        await client.ask("default", "emptyerr")
    assert (info.value.message, info.value.error_type) == ("", "undefined")


async def test_unanswered_ask_times_out_with_a_clear_error(client: NodeConn) -> None:
    with pytest.raises(DriverTimeoutError, match="answer to ask"):
        await client.ask("default", "silent", timeout=0.3)


async def test_emit_echo_reaches_the_recording_handler(client: NodeConn) -> None:
    assert await client.emit("default", "echo", "hello; world")

    msg = await client.wait_for("echo")
    assert (msg.body, msg.is_local, msg.wait) == ("hello; world", False, "")


async def test_server_ask_is_answered_by_the_declared_reply(
    server: FakeNeffosServer, client: NodeConn
) -> None:
    conn = await server.conn(0)
    await conn.send("777;default;;question;0;0;how are you?")

    assert await conn.expect(lambda f: f == "777;default;;question;0;0;fine, thanks")
    msg = await client.wait_for("question")
    assert (msg.wait, msg.body) == ("777", "how are you?")


async def test_binary_frames_round_trip_as_bytes(server: FakeNeffosServer, client: NodeConn) -> None:
    assert await client.emit_binary("default", "echo", b"hi;\x00\xff")
    msg = await client.wait_for("echo")
    assert (msg.body, msg.binary, msg.set_binary) == (b"hi;\x00\xff", True, True)

    conn = await server.conn(0)
    await conn.send("55;default;;bin;0;0;")
    assert await conn.expect(lambda f: f == b"55;default;;bin;0;0;\x00\x01")


async def test_rooms_join_emit_and_leave(server: FakeNeffosServer, client: NodeConn) -> None:
    await client.join_room("default", "room;1")
    assert await client.room_emit("default", "room;1", "echo", "to room")
    msg = await client.wait_for("echo", room="room;1")
    assert msg.body == "to room"
    assert (await client.state()).namespaces == {"default": ["room;1"]}

    assert await client.leave_room("default", "room;1") == LeaveResult(None, "null")
    assert await client.leave_room("default", "room;1") == LeaveResult("bad room", "Error")
    assert not await client.room_emit("default", "room;1", "echo", "late")
    conn = await server.conn(0)
    assert await conn.expect(lambda f: ";default;room@%!semicolon@%!1;_OnRoomLeave;" in str(f))


async def test_leave_all_resolves_at_once_and_sends_on_room_left(
    server: FakeNeffosServer, client: NodeConn
) -> None:
    await client.join_room("default", "r2")

    assert await client.leave_all("default") == LeaveResult(None, "null")
    assert await (await server.conn(0)).expect(lambda f: ";default;r2;_OnRoomLeft;0;0;" in str(f))
    assert (await client.state()).namespaces == {"default": ["r2"]}  # docs/protocol.md#leave-all


async def test_connect_rejections_carry_their_text(client: NodeConn) -> None:
    with pytest.raises(CommandError, match="bad namespace"):
        await client.connect("undeclared")
    with pytest.raises(CommandError, match="not allowed"):
        await client.connect("forbidden")


async def test_disconnect_resolves_to_null_and_fires_local_event(client: NodeConn) -> None:
    assert await client.disconnect("default") == LeaveResult(None, "null")

    msg = await client.wait_for("_OnNamespaceDisconnect")
    assert (msg.is_local, msg.is_forced) == (True, False)
    assert (await client.state()).namespaces == {}
    assert await client.disconnect("default") == LeaveResult("bad namespace", "Error")


async def test_two_connections_are_told_apart(server: FakeNeffosServer, driver: NodeDriver) -> None:
    c1 = await driver.dial(server.url, NAMESPACES)
    c2 = await driver.dial(server.url, NAMESPACES)
    await c2.connect("default")

    assert (c1.handle, c1.id, c2.handle, c2.id) == ("c1", "conn-1", "c2", "conn-2")
    assert (await c2.wait_for("_OnNamespaceConnected")).conn_id == "conn-2"
    assert c1.messages() == []


async def test_refused_dial_rejects_with_the_h_text(server: FakeNeffosServer, driver: NodeDriver) -> None:
    server.refuse = "rejected by server"

    with pytest.raises(CommandError) as info:
        await driver.dial(server.url, NAMESPACES)
    assert (info.value.message, info.value.error_type) == ("rejected by server", "Error")


async def test_headers_travel_as_http_headers(server: FakeNeffosServer, driver: NodeDriver) -> None:
    await driver.dial(server.url, NAMESPACES, headers={"X-Token": "abc"})

    assert (await server.conn(0)).request.headers["X-Token"] == "abc"


async def test_reconnect_is_followed_to_the_new_conn(server: FakeNeffosServer, driver: NodeDriver) -> None:
    c = await driver.dial(server.url, NAMESPACES, reconnect=50)
    await c.connect("default")
    await c.join_room("default", "rr")

    await (await server.conn(0)).ws.close()
    closed = await c.wait_closed()
    reconnected = await c.wait_reconnected()

    assert (closed.data["connId"], reconnected.data["previousConnId"]) == ("conn-1", "conn-1")
    assert (reconnected.data["connId"], reconnected.data["reconnectTries"]) == ("conn-2", 1)
    assert (await server.conn(1)).request.headers["X-Websocket-Reconnect"] == "1"
    assert server.head_requests == 1
    await c.wait_for("_OnRoomJoined", where=lambda m: m.conn_id == "conn-2")
    state = await c.state()
    assert (state.id, state.was_reconnected, state.namespaces) == (
        "conn-2",
        True,
        {"default": ["rr"]},
    )
    assert (await c.ask("default", "echo", "again")).body == "again"


async def test_native_messages_both_ways(server: FakeNeffosServer, driver: NodeDriver) -> None:
    c = await driver.dial(server.url, {"": {"_OnNativeMessage": RECORD}})
    await c.connect("")
    conn = await server.conn(0)

    assert await c.write_native("raw hello")
    assert await conn.expect(lambda f: f == "raw hello")
    await conn.send(";;;_OnNativeMessage;0;0;seven-field native")
    msg = await c.wait_for("_OnNativeMessage")
    assert (msg.body, msg.is_native, msg.namespace) == ("seven-field native", True, "")


async def test_handler_exception_is_reported_and_driver_survives(
    server: FakeNeffosServer, driver: NodeDriver
) -> None:
    c = await driver.dial(server.url, {"default": {"boom": throw("kaput")}})
    await c.connect("default")

    await (await server.conn(0)).send(";default;;boom;0;0;")
    event = await driver.next_event(lambda e: e.kind == "uncaughtException")
    assert event.data["error"] == "kaput"
    assert (await c.state()).namespaces == {"default": []}


async def test_error_behaviour_is_written_back(server: FakeNeffosServer, driver: NodeDriver) -> None:
    c = await driver.dial(server.url, {"default": {"check": error("nope")}})
    await c.connect("default")
    conn = await server.conn(0)

    await conn.send("9;default;;check;0;0;x")
    assert await conn.expect(lambda f: f == "9;default;;check;1;0;nope")


async def test_close_fires_forced_events_and_closed(client: NodeConn) -> None:
    await client.close()

    msg = await client.wait_for("_OnNamespaceDisconnect")
    assert (msg.is_forced, msg.is_local) == (True, True)
    closed = await client.wait_closed()
    assert (closed.data["connId"], closed.data["wasClean"]) == ("conn-1", True)
    assert (await client.state()).is_closed


def test_require_node_skips_without_node_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception, match="npm ci"):
        require_node(tmp_path)


def test_require_node_fails_on_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception, match="cannot run on CI"):
        require_node(tmp_path)


async def test_raw_value_behaviour_shows_the_non_error_return_quirk(
    server: FakeNeffosServer, driver: NodeDriver
) -> None:
    c = await driver.dial(server.url, {"default": {"raw": raw_value("x")}})
    await c.connect("default")
    conn = await server.conn(0)

    await conn.send("8;default;;raw;0;0;")
    assert await conn.expect(lambda f: f == "8;default;;raw;1;0;undefined")  # docs/protocol.md#neffos-js


async def test_trace_reports_incoming_frames(server: FakeNeffosServer, driver: NodeDriver) -> None:
    c = await driver.dial(server.url, NAMESPACES, trace=True)
    await c.connect("default")

    frame = await c.next_event("frame")
    assert frame.data["binary"] is False
    assert str(frame.data["data"]).endswith(";;;;;;")  # the empty reply to the connect


async def test_together_reports_each_outcome_in_order(client: NodeConn) -> None:
    outcomes = await client.driver.together(
        ("emit", {"conn": client.handle, "ns": "default", "event": "echo", "body": "a"}),
        ("nosuch", {}),
        ("ask", {"conn": client.handle, "ns": "default", "event": "fail"}),
    )

    assert outcomes[0] == {"written": True}
    assert isinstance(outcomes[1], CommandError)
    assert (outcomes[1].command, outcomes[1].error_type) == ("nosuch", "driver")
    assert isinstance(outcomes[2], CommandError)
    assert (outcomes[2].message, outcomes[2].error_type) == ("custom; failure", "Error")


async def test_ask_binary_sends_a_binary_frame(server: FakeNeffosServer, client: NodeConn) -> None:
    answer = await client.ask_binary("default", "echo", b"\x00;\xff")

    assert (answer.body, answer.binary) == (b"\x00;\xff", True)
    frame = await (await server.conn(0)).expect(lambda f: isinstance(f, bytes) and b";echo;" in f)
    assert isinstance(frame, bytes)
    assert frame.startswith(b"$")
    assert frame.endswith(b";default;;echo;0;0;\x00;\xff")
