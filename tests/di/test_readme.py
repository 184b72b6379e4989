"""The README's "Dependency injection" program and client run as written, with the three scopes."""

from __future__ import annotations

import pytest
from aiohttp import web

from aioneffos.framework import RemoteError
from support.serving import Dial, Serve
from tests.controllers.harness import module_from, readme_python_blocks


async def test_readme_di_program_answers_the_readme_client(serve: Serve) -> None:
    program, client = readme_python_blocks("Dependency injection")
    with (
        module_from(program, "readme_di") as server,
        module_from(client, "readme_di_client") as client_module,
    ):
        app: web.Application = server.app
        url = await serve(app=app, path="/ws")

        answers = await client_module.main(url)

        assert answers == ["Hello ann: 10 in transaction 1", "Hello ann: 20 in transaction 2"]
        assert server.closed == [1, 2]


async def test_readme_di_program_refuses_a_connect_without_user(serve: Serve, clients: Dial) -> None:
    (program, _) = readme_python_blocks("Dependency injection")
    with module_from(program, "readme_di") as module:
        conn = await clients(await serve(app=module.app, path="/ws"), {"bank": {}})

        with pytest.raises(RemoteError, match=r"^who are you\?$"):
            await conn.connect("bank")
