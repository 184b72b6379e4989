"""The Contracts guide: its program runs as written and its excerpt is real output."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from aioneffos.controllers.asyncapi import load
from aioneffos.controllers.yaml_writer import to_yaml
from support.readme import blocks
from support.serving import Dial, Serve
from support.waiting import Inbox
from tests.controllers.asyncapi_parser import by_id, parse, plain, problems
from tests.controllers.harness import guide_python_blocks, module_from


def chat_excerpt() -> str:
    """Give the part of the chat sample's document the guide shows, as the CLI writes YAML."""
    document = load("samples.chat.app:make_app")
    channel = document["channels"]["chat"]
    operations = document["operations"]
    return to_yaml(
        {
            "channels": {
                "chat": {"address": channel["address"], "messages": {"OnChat": channel["messages"]["OnChat"]}}
            },
            "operations": {name: operations[name] for name in ("chat.receive.OnChat", "chat.send.OnHistory")},
            "components": {"schemas": {"ChatText": document["components"]["schemas"]["ChatText"]}},
        }
    )


def test_guide_chat_excerpt_is_what_the_cli_prints() -> None:
    (excerpt,) = blocks("yaml", doc="docs/guides/contracts.md")

    assert excerpt == chat_excerpt()


async def test_guide_contracts_program_documents_and_plays(serve: Serve, clients: Dial) -> None:
    (program,) = guide_python_blocks("contracts")
    with module_from(program, "guide_contracts") as module:
        app: web.Application = module.app
        url = await serve(app=app, path="/ws")
        moved = Inbox()
        player = await (await clients(url, {"game": {}})).connect("game")
        await (await clients(url, {"game": {"Moved": moved.handler}})).connect("game")

        board = await player.ask("OnMove", '{"row": 1, "col": 2}')
        other = await moved.get()
        document = module.asyncapi(module.server, title="Game")

    assert board.json() == {"cells": ["", "", "", "", "", "x", "", "", ""]}
    assert other.json() == {"row": 1, "col": 2}
    report = parse({"game": json.dumps(document)})["game"]
    assert problems(report) == []
    model: dict[str, Any] = report["model"]
    operations = by_id(model["operations"])
    assert operations["game.receive.OnMove"]["reply"] == ["OnMove_reply", "error"]
    assert operations["game.send.Moved"]["messages"] == ["Moved"]
    assert model["schemas"] == ["Move", "Board"]
    messages = by_id(by_id(model["channels"])["game"]["messages"])
    assert plain(messages["OnMove_reply"]["payload"])["properties"] == {
        "cells": {"type": "array", "items": {"type": "string"}}
    }
