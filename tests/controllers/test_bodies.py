"""Typed events: attrs parameters receive the decoded JSON body; attrs returns are the reply."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import cattrs
import pytest

from aioneffos.controllers import Controller, InvalidEventMethodError
from aioneffos.framework import Message, NSConn, RemoteError
from tests.controllers.harness import Dial, ServeMvc, mvc_application


@attrs.frozen
class Point:
    x: int
    y: int


@attrs.frozen
class Shape:
    name: str
    points: list[Point]


@attrs.frozen
class Stamp:
    at: datetime


class Shapes(Controller):
    namespace = "default"

    async def OnShape(self, shape: Shape) -> Shape:
        return Shape(shape.name.upper(), [Point(p.y, p.x) for p in shape.points])

    async def OnBoth(self, msg: Message, point: Point) -> str:
        return f"{msg.event}:{point.x + point.y}"

    async def OnStamp(self, msg: Message) -> Stamp:
        return Stamp(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))


class TwoBodies(Controller):
    async def OnBad(self, first: Point, second: Shape) -> None: ...


@pytest.fixture
async def shapes(serve_mvc: ServeMvc, clients: Dial) -> NSConn:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Shapes)
    return await (await clients(await serve_mvc(mvc_app))).connect("default")


async def test_typed_body_is_decoded_and_attrs_reply_encoded(shapes: NSConn) -> None:
    reply = await shapes.ask("OnShape", '{"name": "tri", "points": [{"x": 1, "y": 2}]}')

    assert reply.json() == {"name": "TRI", "points": [{"x": 2, "y": 1}]}


async def test_typed_body_sits_beside_the_message(shapes: NSConn) -> None:
    reply = await shapes.ask("OnBoth", '{"x": 1, "y": 2}')

    assert reply.text == "OnBoth:3"


async def test_typed_body_missing_field_is_an_error_reply_naming_it(shapes: NSConn) -> None:
    with pytest.raises(RemoteError) as caught:
        await shapes.ask("OnShape", '{"points": []}')

    assert caught.value.text == "invalid Shape body: required field missing @ $.name"


async def test_typed_body_wrong_nested_type_names_the_path(shapes: NSConn) -> None:
    with pytest.raises(RemoteError) as caught:
        await shapes.ask("OnShape", '{"name": "a", "points": [{"x": 1, "y": "two"}]}')

    assert caught.value.text == "invalid Shape body: invalid value for type, expected int @ $.points[0].y"


@pytest.mark.parametrize(
    ("body", "text"),
    [("not json", "invalid Point body: not JSON"), ("[1, 2]", "invalid Point body: expected a JSON object")],
)
async def test_typed_body_that_is_no_json_object_is_an_error_reply(
    shapes: NSConn, body: str, text: str
) -> None:
    with pytest.raises(RemoteError) as caught:
        await shapes.ask("OnBoth", body)

    assert caught.value.text == text


async def test_attrs_reply_uses_the_application_converter(shapes: NSConn) -> None:
    reply = await shapes.ask("OnStamp")

    assert reply.json() == {"at": "2024-01-02T03:04:05+00:00"}


async def test_custom_converter_decodes_and_encodes(serve_mvc: ServeMvc, clients: Dial) -> None:
    converter = cattrs.Converter()
    converter.register_structure_hook(Point, lambda data, _: Point(*data["xy"]))
    converter.register_unstructure_hook(Shape, lambda shape: {"shape": shape.name})
    mvc_app = mvc_application(converter=converter)
    mvc_app.handle_websocket(Shapes)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    assert (await ns.ask("OnBoth", '{"xy": [3, 4]}')).text == "OnBoth:7"
    assert (await ns.ask("OnShape", '{"name": "sq", "points": []}')).json() == {"shape": "SQ"}


def test_two_body_parameters_raise() -> None:
    with pytest.raises(
        InvalidEventMethodError,
        match=r"^TwoBodies.OnBad: only one parameter can receive the body, got \['first', 'second'\]$",
    ):
        mvc_application().handle_websocket(TwoBodies)
