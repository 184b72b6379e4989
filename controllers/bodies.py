"""Typed event bodies: JSON bodies decoded into attrs classes, attrs replies encoded, with cattrs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
from cattrs.preconf.json import make_converter

from .errors import BodyDecodeError
from .injection import InjectionContext, Resolver


def default_converter() -> cattrs.Converter:
    """Make the converter used when an application is given none (cattrs's JSON preset)."""
    return make_converter()


def is_body_type(annotation: Any) -> bool:
    """Tell whether a parameter annotated with *annotation* receives the decoded body."""
    return isinstance(annotation, type) and attrs.has(annotation)


def body_decoder(cls: type[Any], converter: cattrs.BaseConverter) -> Resolver:
    """Make the resolver that decodes an event's JSON body into *cls*.

    A body that is not a JSON object, or does not fit *cls*, raises `BodyDecodeError`
    whose text names the field (it becomes the error reply).
    """
    name = cls.__qualname__
    structure = converter.structure

    def decode(ctx: InjectionContext) -> Any:
        body = ctx.message.body if ctx.message is not None else b""
        try:
            data = json.loads(body)
        except ValueError:
            raise BodyDecodeError(f"invalid {name} body: not JSON") from None
        if not isinstance(data, dict):
            raise BodyDecodeError(f"invalid {name} body: expected a JSON object")
        try:
            return structure(data, cls)
        except cattrs.BaseValidationError as exc:
            details = "; ".join(cattrs.transform_error(exc))
            raise BodyDecodeError(f"invalid {name} body: {details}") from None
        except Exception as exc:
            raise BodyDecodeError(f"invalid {name} body: {exc}") from None

    return decode


def reply_encoder(converter: cattrs.BaseConverter) -> Callable[[object], object]:
    """Make the function that turns an attrs reply into JSON data with *converter*; others pass."""
    unstructure = converter.unstructure
    has = attrs.has

    def encode(result: object) -> object:
        if has(type(result)):
            return unstructure(result)
        return result

    return encode
