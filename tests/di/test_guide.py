"""The Dependency injection guide's program and client run as written, with the three scopes."""

from __future__ import annotations

import pytest
from aiohttp import web

from aioneffos.framework import RemoteError
from support.serving import Dial, Serve
from tests.controllers.harness import guide_python_blocks, module_from


async def test_guide_di_program_answers_the_guide_client(serve: Serve) -> None:
    program, client = guide_python_blocks("di")
    with (
        module_from(program, "guide_di") as server,
        module_from(client, "guide_di_client") as client_module,
    ):
        app: web.Application = server.app
        url = await serve(app=app, path="/ws")

        answers = await client_module.main(url)

        assert answers == ["Hello ann: 10 in transaction 1", "Hello ann: 20 in transaction 2"]
        assert server.closed == [1, 2]


async def test_guide_di_program_refuses_a_connect_without_user(serve: Serve, clients: Dial) -> None:
    (program, _) = guide_python_blocks("di")
    with module_from(program, "guide_di") as module:
        conn = await clients(await serve(app=module.app, path="/ws"), {"bank": {}})

        with pytest.raises(RemoteError, match=r"^who are you\?$"):
            await conn.connect("bank")
