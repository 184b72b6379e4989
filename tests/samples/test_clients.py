"""The terminal clients, run as a user runs them: an expected failure is one line and exit code 1."""

from __future__ import annotations

import asyncio

import pytest

from support.sample_process import StartModule, StartSample
from support.tools import free_port

TIMEOUT = 20.0
CLIENTS = [  # module, its server's websocket path, other arguments it needs
    ("samples.basic.client", "/ws", ()),
    ("samples.chat.client", "/ws", ("--name", "carol")),
    ("samples.mvc_websocket.client", "/websocket_endpoint", ()),
    ("samples.native_messages.client", "/ws", ()),
    ("samples.request_response.client", "/ws", ()),
    ("samples.scale_out.client", "/ws", ()),
]


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    """Close stdin (end of input), wait for the end; give the exit code, stdout and stderr."""
    async with asyncio.timeout(TIMEOUT):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(("module", "path", "extra"), CLIENTS)
async def test_client_without_a_server_says_so_in_one_line(
    start_module: StartModule, module: str, path: str, extra: tuple[str, ...]
) -> None:
    url = f"ws://127.0.0.1:{free_port()}{path}"  # nothing listens there
    client = await start_module(module, "--url", url, *extra)

    code, out, err = await finished(client)

    assert (code, out) == (1, "")
    assert err == f"cannot reach {url}: connection refused (is the server running?)\n"


async def test_client_with_a_wrong_path_says_so_in_one_line(
    start_sample: StartSample, start_module: StartModule
) -> None:
    sample = await start_sample("basic")
    url = sample.url.replace("http://", "ws://") + "websocket"  # the sample serves /ws
    client = await start_module("samples.basic.client", "--url", url)

    code, out, err = await finished(client)

    assert (code, out) == (1, "")
    assert err == f"no websocket at {url}: the server answered 404 (check --url)\n"


async def test_chat_client_refused_room_is_one_line(
    start_sample: StartSample, start_module: StartModule
) -> None:
    sample = await start_sample("chat")
    client = await start_module(
        "samples.chat.client", "--url", sample.ws_url, "--name", "carol", "--room", "lounge"
    )

    code, out, err = await finished(client)

    assert (code, out) == (1, "")
    assert err == "could not join #lounge: no room 'lounge'; try one of general, random, python\n"


async def test_chat_client_refused_name_is_one_line(
    start_sample: StartSample, start_module: StartModule
) -> None:
    sample = await start_sample("chat")
    client = await start_module("samples.chat.client", "--url", sample.ws_url, "--name", " ")

    code, out, err = await finished(client)

    assert (code, out) == (1, "")
    assert err == "could not join the chat: pick a name of 1 to 24 characters\n"
