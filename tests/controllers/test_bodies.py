"""Typed events: attrs parameters receive the decoded JSON body; attrs returns are the reply."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from aioneffos.controllers import BodyCodec, Controller, InvalidEventMethodError
from aioneffos.framework import Message, NSConn, RemoteError, Reply
from support.serving import Dial, ServeMvc
from tests.controllers.harness import mvc_application


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


@attrs.frozen
class Positive:
    n: int = attrs.field(validator=attrs.validators.gt(0))


class Money:
    """A type msgspec does not know: the codec's hooks carry it."""

    def __init__(self, cents: int) -> None:
        self.cents = cents


@attrs.frozen
class Price:
    amount: Money


class Shapes(Controller):
    namespace = "default"

    async def OnShape(self, shape: Shape) -> Shape:
        return Shape(shape.name.upper(), [Point(p.y, p.x) for p in shape.points])

    async def OnBoth(self, msg: Message, point: Point) -> str:
        return f"{msg.event}:{point.x + point.y}"

    async def OnStamp(self, msg: Message) -> Stamp:
        return Stamp(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))

    async def OnPositive(self, positive: Positive) -> str:
        return str(positive.n)

    async def OnMany(self, msg: Message) -> list[Point]:
        return [Point(1, 2), Point(3, 4)]

    async def OnExplicit(self, msg: Message) -> Reply:
        return Reply(b"as is")

    async def OnPrice(self, price: Price) -> Price:
        return Price(Money(price.amount.cents * 2))


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

    assert caught.value.text == "invalid Shape body: Object missing required field `name`"


async def test_typed_body_wrong_nested_type_names_the_path(shapes: NSConn) -> None:
    with pytest.raises(RemoteError) as caught:
        await shapes.ask("OnShape", '{"name": "a", "points": [{"x": 1, "y": "two"}]}')

    assert caught.value.text == "invalid Shape body: Expected `int`, got `str` - at `$.points[0].y`"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ("not json", "invalid Point body: not JSON"),
        ("", "invalid Point body: not JSON"),
        ("[1, 2]", "invalid Point body: Expected `object`, got `array`"),
    ],
)
async def test_typed_body_that_is_no_json_object_is_an_error_reply(
    shapes: NSConn, body: str, text: str
) -> None:
    with pytest.raises(RemoteError) as caught:
        await shapes.ask("OnBoth", body)

    assert caught.value.text == text


async def test_typed_body_number_given_as_text_is_refused(shapes: NSConn) -> None:
    with pytest.raises(RemoteError) as caught:
        await shapes.ask("OnBoth", '{"x": "1", "y": 2}')

    assert caught.value.text == "invalid Point body: Expected `int`, got `str` - at `$.x`"


async def test_typed_body_attrs_validator_failure_is_an_error_reply(shapes: NSConn) -> None:
    assert (await shapes.ask("OnPositive", '{"n": 3}')).text == "3"
    with pytest.raises(RemoteError) as caught:
        await shapes.ask("OnPositive", '{"n": -1}')

    assert caught.value.text == "invalid Positive body: 'n' must be > 0: -1"


async def test_attrs_reply_datetime_is_rfc3339(shapes: NSConn) -> None:
    reply = await shapes.ask("OnStamp")

    assert reply.json() == {"at": "2024-01-02T03:04:05Z"}


async def test_list_of_attrs_reply_is_encoded(shapes: NSConn) -> None:
    reply = await shapes.ask("OnMany")

    assert reply.json() == [{"x": 1, "y": 2}, {"x": 3, "y": 4}]


async def test_explicit_reply_from_a_controller_is_sent_as_is(shapes: NSConn) -> None:
    reply = await shapes.ask("OnExplicit")

    assert reply.body == b"as is"


def _money_decode(cls: type, data: Any) -> Any:
    if cls is not Money:
        raise NotImplementedError(f"no hook for {cls!r}")
    if not isinstance(data, int):
        raise ValueError("expected cents as an integer")  # msgspec adds where it happened
    return Money(data)


def _money_encode(value: Any) -> Any:
    if isinstance(value, Money):
        return value.cents
    raise NotImplementedError(f"no hook for {type(value)!r}")


async def test_body_codec_hooks_decode_and_encode_unknown_types(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application(body_codec=BodyCodec(dec_hook=_money_decode, enc_hook=_money_encode))
    mvc_app.handle_websocket(Shapes)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    assert (await ns.ask("OnPrice", '{"amount": 250}')).json() == {"amount": 500}
    with pytest.raises(RemoteError) as caught:
        await ns.ask("OnPrice", '{"amount": "lots"}')
    assert caught.value.text == "invalid Price body: expected cents as an integer - at `$.amount`"


def test_two_body_parameters_raise() -> None:
    with pytest.raises(
        InvalidEventMethodError,
        match=r"^TwoBodies.OnBad: only one parameter can receive the body, got \['first', 'second'\]$",
    ):
        mvc_application().handle_websocket(TwoBodies)
