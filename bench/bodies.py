"""Typed event bodies: cattrs against msgspec, side by side in one run (issue 11).

What a controller does per event with a typed body, done both ways on the same bodies:

* decode: the JSON body bytes into the attrs class the method asks for. cattrs is what
  the controllers used before (``json.loads``, a check that it is an object, then
  ``converter.structure``); msgspec is one ``Decoder(cls).decode(body)``.
* encode: an attrs reply into the reply body bytes. cattrs: ``converter.unstructure``,
  then the framework's JSON encoding (`as_body`); msgspec: ``Encoder().encode(value)``.

Each case runs *number* calls, *repeat* times, the two libraries interleaved; the report
gives the median microseconds per call and the cattrs/msgspec ratio. Absolute times
depend on the machine; the ratio is the result.
Run: ``python -m bench.bodies`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from typing import Any

import attrs
import cattrs
import msgspec
from cattrs.preconf.json import make_converter

from aioneffos.framework.message import as_body


@attrs.frozen
class ChatText:
    """The chat sample's ``OnChat`` body: one string."""

    text: str


@attrs.frozen
class Point:
    x: int
    y: int


@attrs.frozen
class Shape:
    """A nested body: a name and a list of objects."""

    name: str
    points: list[Point]


@attrs.frozen
class Order:
    """A wider body: ten fields of several kinds, one optional, one a datetime."""

    id: int
    customer: str
    items: list[str]
    quantities: list[int]
    total: float
    currency: str
    paid: bool
    placed: datetime
    note: str | None = None
    tags: tuple[str, ...] = ()


CASES: dict[str, tuple[type[Any], bytes]] = {
    "ChatText (1 field)": (ChatText, b'{"text":"hello, is anyone in #general today?"}'),
    "Shape (4 nested)": (
        Shape,
        b'{"name":"square","points":[{"x":0,"y":0},{"x":0,"y":1},{"x":1,"y":1},{"x":1,"y":0}]}',
    ),
    "Order (10 fields)": (
        Order,
        b'{"id":1234,"customer":"ada","items":["tea","scones","jam"],"quantities":[2,6,1],'
        b'"total":23.5,"currency":"EUR","paid":true,"placed":"2024-05-06T07:08:09+00:00",'
        b'"note":"by the window","tags":["regular","online"]}',
    ),
}


def cattrs_decoder(cls: type[Any], converter: cattrs.Converter) -> Callable[[bytes], Any]:
    """Decode as ``controllers/bodies.py`` did with cattrs (error handling aside)."""
    structure = converter.structure

    def decode(body: bytes) -> Any:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return structure(data, cls)

    return decode


def cattrs_encoder(converter: cattrs.Converter) -> Callable[[object], bytes]:
    """Encode an attrs reply as the controllers did with cattrs: unstructure, then `as_body`."""
    unstructure = converter.unstructure
    return lambda value: as_body(unstructure(value))


def msgspec_decoder(cls: type[Any]) -> Callable[[bytes], Any]:
    """Decode with one msgspec ``Decoder`` made for *cls* (validation included)."""
    return msgspec.json.Decoder(cls).decode


def msgspec_encoder() -> Callable[[object], bytes]:
    """Encode with one msgspec ``Encoder``."""
    return msgspec.json.Encoder().encode


def per_call_us(function: Callable[[Any], Any], argument: Any, number: int) -> float:
    """Time *number* calls of ``function(argument)``; give microseconds per call."""
    return timeit.timeit(lambda: function(argument), number=number) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--number", type=int, default=20_000, help="calls per measurement")
    parser.add_argument("--repeat", type=int, default=7, help="measurements per case and library")
    args = parser.parse_args()
    converter = make_converter()
    encode_cattrs, encode_msgspec = cattrs_encoder(converter), msgspec_encoder()
    print(f"cattrs {version('cattrs')}, msgspec {version('msgspec')}")
    print(f"median us per call over {args.repeat} x {args.number} calls (lower is better)\n")
    print(f"{'case':<28}{'cattrs':>10}{'msgspec':>10}{'ratio':>9}")
    for name, (cls, body) in CASES.items():
        decode_cattrs, decode_msgspec = cattrs_decoder(cls, converter), msgspec_decoder(cls)
        value = decode_cattrs(body)
        if decode_msgspec(body) != value:
            raise SystemExit(f"{name}: the two decoders disagree")
        for encode in (encode_cattrs, encode_msgspec):  # datetimes differ in spelling, not in value
            if decode_msgspec(encode(value)) != value:
                raise SystemExit(f"{name}: an encoder does not round-trip")
        pairs = {
            "decode": (decode_cattrs, decode_msgspec, body),
            "encode": (encode_cattrs, encode_msgspec, value),
        }
        for what, (slow, fast, argument) in pairs.items():
            times: dict[str, list[float]] = {"cattrs": [], "msgspec": []}
            for _ in range(args.repeat):  # interleaved: both see the same machine weather
                times["cattrs"].append(per_call_us(slow, argument, args.number))
                times["msgspec"].append(per_call_us(fast, argument, args.number))
            a, b = statistics.median(times["cattrs"]), statistics.median(times["msgspec"])
            print(f"{what + ' ' + name:<28}{a:>10.2f}{b:>10.2f}{a / b:>8.1f}x")


if __name__ == "__main__":
    main()
