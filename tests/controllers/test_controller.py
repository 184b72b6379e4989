"""Controllers at run time over real sockets: instances, framework attributes, replies, system events."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from aioneffos.controllers import Controller, FrozenApplicationError
from aioneffos.framework import (
    Conn,
    Message,
    NSConn,
    RemoteError,
    Room,
    Server,
)
from support.serving import Dial, ServeMvc
from support.waiting import Inbox
from tests.controllers.harness import mvc_application

RECORD = Inbox()


class Counter(Controller):
    namespace = "default"

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def OnCount(self, msg: Message) -> str:
        self.count += 1
        return f"{self.conn.id}:{self.count}"


class Introspect(Controller):
    namespace = "default"

    async def OnWho(self, msg: Message) -> dict[str, Any]:
        return {
            "ns_conn": self.ns_conn is self.conn.namespace("default"),
            "namespace": self.namespace,
            "path": self.request.path,
            "server": isinstance(self.server, Server),
            "connected": self.is_connected,
        }

    async def OnValues(
        self, msg: Message, ns: NSConn, conn: Conn, request: web.Request, first: Message
    ) -> str:
        same = ns is self.ns_conn and conn is self.conn and first is msg
        return f"{same}:{request.query.get('x')}"


class Seeded(Controller):
    shared: list[str]
    label = "class"
    _private = "class"

    async def OnSeeds(self, msg: Message) -> str:
        self.shared.append(self.conn.id)
        return f"{self.label}:{self._private}:{len(self.shared)}"


class Replies(Controller):
    namespace = "default"

    async def OnBytes(self, msg: Message) -> bytes:
        return b"\x00raw"

    async def OnText(self, msg: Message) -> str:
        return "text"

    async def OnNothing(self, msg: Message) -> None:
        return None

    async def OnFail(self, msg: Message) -> None:
        raise PermissionError("not allowed")

    async def OnNoParams(self) -> str:
        return "no params"

    async def OnEcho(self, msg) -> bytes:  # type: ignore[no-untyped-def]  # unannotated = the message
        body: bytes = msg.body
        return body


class Lifecycle(Controller):
    namespace = "default"

    async def OnNamespaceConnect(self, msg: Message) -> None:
        if msg.namespace == "default" and self.request.query.get("deny"):
            raise PermissionError("go away")
        RECORD(("connect", self.conn.id))

    async def OnNamespaceConnected(self, msg: Message) -> None:
        RECORD(("connected", self.conn.id))

    async def OnNamespaceDisconnect(self, msg: Message) -> None:
        RECORD(("disconnect", self.conn.id, msg.is_forced))

    async def OnRoomJoin(self, msg: Message) -> None:
        if msg.room == "closed":
            raise PermissionError("room closed")

    async def OnRoomJoined(self, msg: Message) -> None:
        RECORD(("joined", self.conn.id, msg.room))

    async def OnAnyEvent(self, msg: Message) -> str:
        return "any:" + msg.event


class Conveniences(Controller):
    namespace = "default"

    async def OnRelay(self, msg: Message) -> None:
        self.broadcast("relayed", msg.body, exclude_self=True)

    async def OnPoke(self, msg: Message) -> None:
        self.emit("poked", b"you")

    async def OnQuestion(self, msg: Message) -> str:
        reply = await self.ask("question", b"ping")
        return "answer:" + reply.text

    async def OnJoin(self, msg: Message) -> str:
        room = await self.join_room(msg.text)
        return f"{isinstance(room, Room)}:{sorted(self.rooms)}:{self.room(msg.text) is room}"


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    RECORD.clear()


async def test_controller_instance_lives_per_namespace_connection(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Counter)
    url = await serve_mvc(mvc_app)
    first = await (await clients(url)).connect("default")
    second = await (await clients(url)).connect("default")

    answers = [(await ns.ask("OnCount")).text for ns in (first, first, second)]

    assert answers == [f"{first.conn.id}:1", f"{first.conn.id}:2", f"{second.conn.id}:1"]


async def test_controller_framework_attributes_are_set(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Introspect)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    answer = (await ns.ask("OnWho")).json()

    expected = {"ns_conn": True, "namespace": "default", "path": "/ws", "server": True, "connected": True}
    assert answer == expected


async def test_controller_event_parameters_receive_framework_values(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Introspect)
    ns = await (await clients(await serve_mvc(mvc_app) + "?x=42")).connect("default")

    assert (await ns.ask("OnValues")).text == "True:42"


async def test_controller_template_public_attributes_seed_each_instance(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    shared: list[str] = []
    template = Seeded(namespace="default", shared=shared, label="template")
    template._private = "template"
    mvc_app = mvc_application()
    mvc_app.handle_websocket(template)
    url = await serve_mvc(mvc_app)
    first = await (await clients(url)).connect("default")
    second = await (await clients(url)).connect("default")

    answers = [(await first.ask("OnSeeds")).text, (await second.ask("OnSeeds")).text]

    assert answers == ["template:class:1", "template:class:2"]
    assert shared == [first.conn.id, second.conn.id]


@pytest.mark.parametrize(
    ("event", "body", "expected"),
    [
        ("OnBytes", b"", b"\x00raw"),
        ("OnText", b"", b"text"),
        ("OnNothing", b"", b""),
        ("OnNoParams", b"", b"no params"),
        ("OnEcho", b"same", b"same"),
    ],
)
async def test_controller_return_value_is_the_reply(
    serve_mvc: ServeMvc, clients: Dial, event: str, body: bytes, expected: bytes
) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Replies)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    assert (await ns.ask(event, body)).body == expected


async def test_controller_raising_is_an_error_reply(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Replies)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    with pytest.raises(RemoteError, match=r"^not allowed$"):
        await ns.ask("OnFail")


async def test_controller_on_namespace_connect_refusal_rejects_the_client(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Lifecycle)
    conn = await clients(await serve_mvc(mvc_app) + "?deny=1")

    with pytest.raises(RemoteError, match=r"^go away$"):
        await conn.connect("default")
    assert RECORD.entries == []


async def test_controller_system_methods_run_in_order(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Lifecycle)
    conn = await clients(await serve_mvc(mvc_app))
    ns = await conn.connect("default")
    await ns.join_room("lobby")
    with pytest.raises(RemoteError, match=r"^room closed$"):
        await ns.join_room("closed")
    await ns.disconnect()

    assert RECORD.entries == [
        ("connect", conn.id),
        ("connected", conn.id),
        ("joined", conn.id, "lobby"),
        ("disconnect", conn.id, False),
    ]


async def test_controller_disconnect_runs_when_the_connection_closes(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Lifecycle)
    conn = await clients(await serve_mvc(mvc_app))
    await conn.connect("default")
    await conn.close()

    await RECORD.wait_for(("disconnect", conn.id, True))


async def test_controller_on_any_event_answers_unknown_events(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Lifecycle)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    assert (await ns.ask("whatever")).text == "any:whatever"


async def test_controller_server_initiated_connect_creates_a_controller(serve: Any, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Counter)

    async def on_connect(conn: Conn) -> None:
        await conn.connect("default")

    server = Server(mvc_app, on_connect=on_connect)
    connected = Inbox()
    conn = await clients(await serve(server), {"default": {"_OnNamespaceConnected": connected.handler}})
    await connected.get()
    ns = conn.namespace("default")
    assert ns is not None

    assert (await ns.ask("OnCount")).text == f"{conn.id}:1"


async def test_controller_broadcast_emit_and_ask_conveniences(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Conveniences)
    url = await serve_mvc(mvc_app)
    received = Inbox()

    async def answer(ns: NSConn, msg: Message) -> str:
        return "pong"

    handlers = {"default": {"relayed": received.handler, "poked": received.handler, "question": answer}}
    sender = await (await clients(url, handlers)).connect("default")
    await (await clients(url, handlers)).connect("default")

    await sender.ask("OnRelay", b"hello")
    relayed = await received.get()
    await sender.ask("OnPoke")
    poked = await received.get()

    assert (relayed.event, relayed.body, poked.event, poked.body) == ("relayed", b"hello", "poked", b"you")
    assert (await sender.ask("OnQuestion")).text == "answer:pong"
    assert (await sender.ask("OnJoin", "r1")).text == "True:['r1']:True"


async def test_controller_set_timeouts_bounds_the_controller_ask(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Conveniences).set_timeouts(ask=0.05)
    url = await serve_mvc(mvc_app)

    async def silent(ns: NSConn, msg: Message) -> None:
        return None

    conn = await clients(url, {"default": {"question": silent}}, reply_to_unanswered_asks=False)
    ns = await conn.connect("default")

    with pytest.raises(RemoteError, match=r"^no reply to 'question' from .* within 0.05s$"):
        await ns.ask("OnQuestion")


def test_controller_set_timeouts_refuses_non_positive() -> None:
    with pytest.raises(ValueError, match=r"^ask timeout must be > 0, got 0$"):
        mvc_application().handle_websocket(Counter).set_timeouts(ask=0)


def test_controller_handle_is_frozen_once_a_server_is_built() -> None:
    mvc_app = mvc_application()
    handle = mvc_app.handle_websocket(Counter)
    Server(mvc_app)

    with pytest.raises(FrozenApplicationError, match=r"^Counter: configure the controller before a Server"):
        handle.set_namespace("other")
    with pytest.raises(FrozenApplicationError, match=r"^register dependencies and controllers before"):
        mvc_app.handle_websocket(Replies)
