"""The pytest plugin in small user projects, each run by pytest in a fresh process that finds the
plugin through its ``pytest11`` entry point, as a user's ``pytest`` does."""

from __future__ import annotations

import pytest

RUN_TIMEOUT = 120.0

SHOUT = """
from __future__ import annotations

import pytest
from aiohttp import web

from aioneffos.framework import Message, NSConn, Server
from aioneffos.testing import Clients, Recorder, SocketClients


async def shout(ns: NSConn, msg: Message) -> str:
    ns.emit("heard", msg.text)
    return msg.text.upper()


@pytest.mark.asyncio
async def test_in_memory(neffos_client: Clients) -> None:
    rec = Recorder()
    conn = await neffos_client(Server({"default": {"shout": shout}}), rec)
    default = await conn.connect("default")

    assert (await default.ask("shout", "hi")).text == "HI"
    assert (await rec.next("heard")).text == "hi"


@pytest.mark.asyncio
async def test_an_app_without_a_server(neffos_client: Clients) -> None:
    await neffos_client(web.Application())


@pytest.mark.asyncio
async def test_over_a_socket(neffos_aiohttp_client: SocketClients) -> None:
    await neffos_aiohttp_client(Server({"default": {"shout": shout}}))
"""


def test_plugin_loads_without_importing_aioneffos(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        import sys

        def test_only_the_plugin_is_loaded(request):
            assert request.config.pluginmanager.hasplugin("aioneffos")
            loaded = sorted(name for name in sys.modules if name.startswith("aioneffos"))
            assert loaded == ["aioneffos", "aioneffos.testing", "aioneffos.testing.plugin"]
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=RUN_TIMEOUT)

    result.assert_outcomes(passed=1)


def test_plugin_fixtures_in_strict_mode_without_pytest_aiohttp(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject='[tool.pytest.ini_options]\nasyncio_mode = "strict"\n')
    pytester.makepyfile(test_shout=SHOUT)

    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:aiohttp",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        timeout=RUN_TIMEOUT,
    )

    # In memory needs pytest-asyncio only; the socket fixture names what it needs.
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [  # errors (at setup) are reported before failures
            "*fixture 'aiohttp_client' not found*",
            ">       await neffos_client(web.Application())",
            "E       TypeError: this aiohttp application has no aioneffos server: call setup(app, server)*",
            "test_shout.py:*: TypeError",
        ],
    )
