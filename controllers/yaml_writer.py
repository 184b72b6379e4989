"""`to_yaml`: JSON data written as block-style YAML, for documents people read (no dependency).

Only JSON data is written (dicts with str keys, lists, str, int, float, bool, None). A
string is written plain when YAML reads it back as the same string, as a ``|-`` block
when it is several plain lines, and double-quoted with JSON's escapes otherwise (a JSON
string is a valid YAML double-quoted scalar).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*(?: [A-Za-z0-9_./()'-]+)*")
"""Strings YAML reads back as the same string when written bare: no indicator, no `: `, no ` #`."""
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}
"""Words YAML 1.1 readers turn into booleans or null."""
_BLOCK_LINE = re.compile(r"[^\x00-\x08\x0b-\x1f\x7f]*")


def to_yaml(data: Any) -> str:
    """Write *data* as a YAML document; raise `TypeError` for what is not JSON data."""
    lines: list[str] = []
    _node(data, 0, lines)
    return "\n".join(lines) + "\n"


def _scalar(value: Any, indent: int) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{value!r} is not JSON data")
        return json.dumps(value)
    if isinstance(value, str):
        return _string(value, indent)
    raise TypeError(f"a {type(value).__name__} is not JSON data")


def _string(text: str, indent: int) -> str:
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    lines = text.split("\n")
    if (
        len(lines) > 1
        and lines[-1] != ""
        and lines[0][:1] not in (" ", "\t")
        and all(_BLOCK_LINE.fullmatch(line) and line == line.rstrip() for line in lines)
    ):
        pad = " " * (indent + 2)
        return "|-\n" + "\n".join(pad + line if line else "" for line in lines)
    return json.dumps(text, ensure_ascii=False)


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"a mapping key must be a str, got {key!r}")
    if _PLAIN.fullmatch(key) and key.lower() not in _RESERVED:
        return key
    return json.dumps(key, ensure_ascii=False)


def _node(value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict) and value:
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{_key(key)}:")
                _node(item, indent + 2 if isinstance(item, dict) else indent, lines)
            else:
                lines.append(f"{pad}{_key(key)}: {_empty_or_scalar(item, indent)}")
    elif isinstance(value, list) and value:
        for item in value:
            if isinstance(item, dict | list) and item:
                nested: list[str] = []
                _node(item, indent + 2, nested)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_empty_or_scalar(item, indent)}")
    else:
        lines.append(pad + _empty_or_scalar(value, indent))


def _empty_or_scalar(value: Any, indent: int) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value, indent)
