"""`to_yaml` writes JSON data that js-yaml (what the AsyncAPI parser reads YAML with) reads back equal."""

from __future__ import annotations

from typing import Any

import pytest

from aioneffos.controllers.yaml_writer import to_yaml
from tests.controllers.asyncapi_parser import parse

TRICKY = [
    "",
    "plain words",
    "yes",
    "No",
    "null",
    "~",
    "1.0",
    "0x1F",
    "3.0.0",
    "a: b",
    "a #b",
    "#x",
    "- item",
    "?",
    "{curly}",
    "[square]",
    "@at",
    "`tick`",
    "'quoted'",
    '"double"',
    " leading",
    "trailing ",
    "tab\there",
    "two\nlines",
    "ends with newline\n",
    "  indented\nnext",
    "blank\n\nline",
    "unicode é ✓ 中",
    "back\\slash",
    "control \x01 char",
    "$ref",
    "#/components/schemas/X",
]


def test_tricky_strings_and_structures_read_back_equal() -> None:
    data: dict[str, Any] = {
        "strings": TRICKY,
        "keys": {text: text for text in TRICKY if text},
        "numbers": [0, -1, 2.5, 1e-7, 10**20],
        "flags": [True, False, None],
        "empty": {"dict": {}, "list": []},
        "nested": [[1, [2, {"a": [3, {}]}]], {"b": {"c": {"d": "e"}}}, []],
        "multi": {"text": "first\n\nsecond\n- third: x"},
    }

    loaded = parse({"data": to_yaml(data)})["data"]["loaded"]

    assert loaded == data


def test_top_level_scalars_and_empties() -> None:
    documents = {"list": to_yaml([]), "dict": to_yaml({}), "text": to_yaml("a: b")}

    reports = parse(documents)

    assert [reports[name]["loaded"] for name in documents] == [[], {}, "a: b"]


@pytest.mark.parametrize("value", [float("nan"), {1: "x"}, b"bytes", object()])
def test_what_is_not_json_data_raises(value: Any) -> None:
    with pytest.raises(TypeError):
        to_yaml({"value": value})
