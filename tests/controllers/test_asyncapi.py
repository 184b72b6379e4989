"""AsyncAPI documents from servers: checked by the official parser and by what they say."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from aioneffos.controllers import (
    BaseApplication,
    BodyCodec,
    ContractError,
    Controller,
    Emit,
    emits,
    join_conn_handlers,
)
from aioneffos.controllers.asyncapi import asyncapi, asyncapi_yaml
from aioneffos.framework import ON_ANY_EVENT, ON_NATIVE_MESSAGE, Message, NSConn, Server
from tests.controllers.asyncapi_parser import by_id, parse, plain, problems
from tests.controllers.harness import mvc_application


@attrs.frozen
class Point:
    x: int
    y: int


@attrs.frozen
class Shape:
    """A named polygon."""

    name: str
    points: list[Point]
    closed: bool = True


async def echo(ns: NSConn, msg: Message) -> str:
    """Give the body back.

    Nothing else happens.
    """
    return msg.text


async def untyped(ns, msg):  # type: ignore[no-untyped-def]
    return None


@emits("tick", int, summary="A counter, every second.")
async def start(ns: NSConn, msg: Message) -> None:
    """Start the ticks."""


@emits("Drawn", Shape, summary="A shape someone drew.")
class Shapes(Controller):
    """Shapes drawn together."""

    namespace = "shapes"

    async def OnDraw(self, shape: Shape) -> Shape:
        """Draw a shape; the reply is the shape as stored."""
        return shape

    @emits("Confirm", Point, reply=bool, summary="Ask whether the point is wanted.")
    async def OnPoint(self, msg: Message, point: Point) -> list[Point]:
        return [point]

    async def OnRoomJoin(self, msg: Message) -> None:
        """Only rooms named after a shape."""


class Counters(Controller):
    namespace = "shapes"

    async def OnCount(self, msg: Message) -> int:
        return 1

    async def OnRoomJoin(self, msg: Message) -> None:
        """Count the joins."""


def document_of(target: Any, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Give the document of *target* and the parser's report on it, checked to have no problems."""
    document = asyncapi(target, **options)
    report = parse({"doc": json.dumps(document)})["doc"]
    assert problems(report) == []
    assert report["model"] is not None
    return document, report["model"]


def test_plain_events_become_receive_operations_with_text_replies() -> None:
    server = Server({"default": {"echo": echo, "untyped": untyped, "start": start}})

    document, model = document_of(server, title="Echo", version="2.1.0")

    channel = by_id(model["channels"])["default"]
    assert (model["title"], model["version"]) == ("Echo", "3.0.0")
    assert document["info"]["version"] == "2.1.0"
    assert channel["address"] == "default/{room}"
    assert channel["parameters"] == ["room"]
    operations = by_id(model["operations"])
    assert operations["default.receive.echo"]["action"] == "receive"
    assert operations["default.receive.echo"]["channels"] == ["default"]
    assert operations["default.receive.echo"]["reply"] == ["echo_reply", "error"]
    assert operations["default.receive.untyped"]["reply"] is None
    assert operations["default.send.tick"]["action"] == "send"
    messages = by_id(channel["messages"])
    assert messages["echo_reply"]["contentType"] == "text/plain"
    assert plain(messages["echo_reply"]["payload"]) == {"type": "string"}
    assert messages["untyped"]["payload"] is None  # the raw body is not described
    assert plain(messages["tick"]["payload"]) == {"type": "integer"}
    assert messages["echo"]["headers"] == ["event", "isError", "isNoOp", "namespace", "room", "wait"]
    assert messages["echo"]["correlationId"] == "$message.header#/wait"
    echo_op = document["operations"]["default.receive.echo"]
    assert (echo_op["summary"], echo_op["description"]) == ("Give the body back.", "Nothing else happens.")
    assert echo_op["x-aioneffos-handler"] == "echo"


def test_every_namespace_gets_its_connect_and_room_requests() -> None:
    server = Server({"": {"echo": echo}, "/v1": {}})

    _, model = document_of(server)

    assert sorted(channel["id"] for channel in model["channels"]) == ["root", "v1"]
    assert by_id(model["channels"])["v1"]["address"] == "/v1/{room}"
    operations = by_id(model["operations"])
    for channel in ("root", "v1"):
        assert operations[f"{channel}.receive._OnNamespaceConnect"]["reply"] == ["empty", "error"]
        assert operations[f"{channel}.receive._OnNamespaceDisconnect"]["reply"] == ["empty"]
        assert operations[f"{channel}.receive._OnRoomJoin"]["reply"] == ["empty", "error"]
        assert operations[f"{channel}.receive._OnRoomLeave"]["reply"] == ["empty", "error"]


def test_controller_bodies_and_replies_are_json_schemas() -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Shapes)

    document, model = document_of(Server(mvc_app))

    assert model["schemas"] == ["Shape", "Point"]
    assert document["components"]["schemas"]["Shape"] == {
        "title": "Shape",
        "description": "A named polygon.",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "points": {"type": "array", "items": {"$ref": "#/components/schemas/Point"}},
            "closed": {"type": "boolean", "default": True},
        },
        "required": ["name", "points"],
    }
    messages = by_id(by_id(model["channels"])["shapes"]["messages"])
    draw = messages["OnDraw"]
    assert draw["contentType"] == "application/json"
    assert plain(draw["payload"]["properties"]["points"]["items"]["properties"]) == {
        "x": {"type": "integer"},
        "y": {"type": "integer"},
    }  # the parser followed the references
    assert draw["payload"]["title"] == messages["OnDraw_reply"]["payload"]["title"] == "Shape"
    assert plain(messages["OnPoint_reply"]["payload"])["type"] == "array"
    operations = by_id(model["operations"])
    assert operations["shapes.receive.OnDraw"]["reply"] == ["OnDraw_reply", "error"]
    assert operations["shapes.send.Drawn"]["messages"] == ["Drawn"]
    assert operations["shapes.send.Confirm"]["reply"] == ["Confirm_reply", "error"]
    assert plain(messages["Confirm_reply"]["payload"]) == {"type": "boolean"}
    channel = document["channels"]["shapes"]
    assert channel["description"] == "Served by Shapes.\n\nShapes drawn together."
    join = document["operations"]["shapes.receive._OnRoomJoin"]
    assert "Shapes.OnRoomJoin: Only rooms named after a shape." in join["description"]


def test_joined_controllers_keep_every_event_and_hook() -> None:
    first, second = mvc_application(), mvc_application()
    first.handle_websocket(Shapes)
    second.handle_websocket(Counters)

    document, model = document_of(Server(join_conn_handlers(first, second)))

    operations = by_id(model["operations"])
    assert {"shapes.receive.OnDraw", "shapes.receive.OnPoint", "shapes.receive.OnCount"} <= set(operations)
    assert "shapes.send.Drawn" in operations  # the class's emits ride on its connect hook too
    join = document["operations"]["shapes.receive._OnRoomJoin"]["description"]
    assert "Shapes.OnRoomJoin: Only rooms named after a shape." in join
    assert "Counters.OnRoomJoin: Count the joins." in join
    assert document["channels"]["shapes"]["description"].startswith("Served by Shapes, Counters.")


def test_an_application_not_yet_served_is_described_too() -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Counters)

    _, model = document_of(mvc_app)

    assert "shapes.receive.OnCount" in by_id(model["operations"])


def test_emits_for_a_namespace_declare_server_asks() -> None:
    question = Emit("question", str, reply=str, summary="Ask the client.")

    document, model = document_of(Server({"polls": {}}), emits={"polls": [question]})

    operation = by_id(model["operations"])["polls.send.question"]
    assert (operation["action"], operation["reply"]) == ("send", ["question_reply", "error"])
    assert document["operations"]["polls.send.question"]["summary"] == "Ask the client."


def test_emits_for_an_unknown_namespace_raise() -> None:
    with pytest.raises(KeyError, match="emits given for namespaces the server does not serve"):
        asyncapi(Server({"a": {}}), emits={"b": [Emit("x")]})


def test_any_event_and_native_messages_are_described() -> None:
    async def anything(ns: NSConn, msg: Message) -> None:
        """Log whatever comes."""

    server = Server({"": {ON_ANY_EVENT: anything, ON_NATIVE_MESSAGE: anything, "echo": echo}})

    document, model = document_of(server)

    operations = by_id(model["operations"])
    assert operations["root.receive._OnAnyEvent"]["messages"] == ["_OnAnyEvent"]
    assert operations["root.receive._OnNativeMessage"]["messages"] == ["native"]
    assert document["channels"]["root"]["messages"]["_OnAnyEvent"]["name"] == "*"
    assert "messageTraits" in document["components"]  # neffos frames too: the handshake applies


def test_native_only_server_has_no_neffos_framing() -> None:
    async def relay(ns: NSConn, msg: Message) -> None: ...

    document, model = document_of(Server({"": {ON_NATIVE_MESSAGE: emits(ON_NATIVE_MESSAGE, str)(relay)}}))

    (channel,) = model["channels"]
    assert channel["address"] is None
    assert channel["parameters"] == []
    assert [op["id"] for op in model["operations"]] == [
        "root.receive._OnNativeMessage",
        "root.send._OnNativeMessage",
    ]
    assert "native-only" in document["info"]["description"]
    assert "messageTraits" not in document["components"]


def test_server_entry_names_host_path_and_protocol() -> None:
    _, model = document_of(Server({"": {}}), host="example.com:8443", pathname="/ws", protocol="wss")

    assert model["servers"] == [
        {"id": "default", "host": "example.com:8443", "protocol": "wss", "pathname": "/ws"}
    ]


def test_yaml_reads_back_as_the_json_and_parses_alike() -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Shapes)
    document = asyncapi(Server(mvc_app), description="A: tricky\n\n  text # here")

    reports = parse({"json": json.dumps(document), "yaml": asyncapi_yaml(document)})

    assert reports["yaml"]["loaded"] == document
    assert problems(reports["yaml"]) == []
    assert reports["yaml"]["model"] == reports["json"]["model"]


class Opaque:
    """A type msgspec cannot describe."""


async def odd(ns: NSConn, msg: Message) -> Opaque:
    return Opaque()


def test_a_type_without_json_schema_raises_naming_the_handler() -> None:
    with pytest.raises(ContractError, match=r"^cannot describe the bodies of .*odd in JSON Schema: "):
        asyncapi(Server({"": {"odd": odd}}))


class Money:
    """Cents, carried by the codec's hooks."""


@attrs.frozen
class Price:
    amount: Money


class Shop(Controller):
    async def OnPrice(self, price: Price) -> None: ...


def money_schema(cls: type) -> dict[str, Any]:
    if cls is Money:
        return {"type": "integer", "description": "cents"}
    raise NotImplementedError


def test_a_codec_schema_hook_describes_custom_types() -> None:
    mvc_app = BaseApplication(mvc_application().app, body_codec=BodyCodec(schema_hook=money_schema))
    mvc_app.handle_websocket(Shop)

    document, _ = document_of(Server(mvc_app))

    amount = document["components"]["schemas"]["Price"]["properties"]["amount"]
    assert amount == {"type": "integer", "description": "cents"}


def test_emits_needs_an_event_name() -> None:
    with pytest.raises(ValueError, match="an emitted event needs a non-empty name, got ''"):
        emits("")


def test_emits_of_a_base_controller_are_inherited() -> None:
    class Child(Shapes):
        @emits("Extra", str)
        async def OnExtra(self, msg: Message) -> None: ...

    mvc_app = mvc_application()
    mvc_app.handle_websocket(Child)

    operations = asyncapi(Server(mvc_app))["operations"]

    assert {"shapes.send.Drawn", "shapes.send.Confirm", "shapes.send.Extra"} <= set(operations)
