"""The Controllers guide's program runs as written: two clients chat, the logger sees them."""

from __future__ import annotations

import pytest
from aiohttp import web

from support.serving import Dial, Serve
from support.waiting import Inbox
from tests.controllers.harness import guide_python_blocks, module_from


async def test_guide_controllers_program_chats_and_logs(
    serve: Serve, clients: Dial, capsys: pytest.CaptureFixture[str]
) -> None:
    (program,) = guide_python_blocks("controllers")
    with module_from(program, "guide_controllers") as module:
        app: web.Application = module.app
        url = await serve(app=app, path="/websocket_endpoint")
        received = Inbox()
        sender_conn = await clients(url, {"default": {}})
        receiver_conn = await clients(url, {"default": {"OnChat": received.handler}})
        sender = await sender_conn.connect("default")
        await receiver_conn.connect("default")

        sender.emit("OnChat", "hi")
        chat = await received.get()
        await sender.disconnect()

    assert (chat.event, chat.text) == ("OnChat", "hi")
    assert capsys.readouterr().out.splitlines() == [
        f"DEV: Connected {sender_conn.id}",
        f"DEV: Connected {receiver_conn.id}",
        f"DEV: Disconnected {sender_conn.id}",
    ]
