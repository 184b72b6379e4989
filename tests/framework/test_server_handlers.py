"""`Server.handlers`: the compiled handler tables, read-only (what documentation generators read)."""

from __future__ import annotations

import pytest

from aioneffos.framework import Events, Message, NSConn, Server


async def chat(ns: NSConn, msg: Message) -> None: ...


def test_handlers_give_every_namespace_and_event() -> None:
    server = Server({"a": {"chat": chat}, "": Events({"x": chat})})

    assert {name: dict(events) for name, events in server.handlers.items()} == {
        "a": {"chat": chat},
        "": {"x": chat},
    }


def test_handlers_cannot_be_changed() -> None:
    server = Server({"a": {"chat": chat}})

    with pytest.raises(TypeError):
        server.handlers["b"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        server.handlers["a"]["other"] = chat  # type: ignore[index]
    assert list(server.handlers["a"]) == ["chat"]
