"""samples/mvc_websocket (the seed's six steps): in memory with a logger that keeps its lines
(`aioneffos.testing`), and started with ``python -m samples.mvc_websocket``.

Two clients chat through the controller: one emits ``OnChat``, the other receives it,
and the injected logger logged the connects, the chat and the disconnects.
"""

from __future__ import annotations

import asyncio
import sys

import attrs

from aioneffos.framework import Message, NSConn, dial
from aioneffos.testing import Clients, Recorder
from compat.node_client import RECORD, NodeDriver
from samples.mvc_websocket.app import ENDPOINT, make_app
from support.sample_process import SampleProcess, StartSample
from support.tools import REPO_ROOT

NS = "default"
TIMEOUT = 10.0


def endpoint(sample: SampleProcess) -> str:
    return f"ws://127.0.0.1:{sample.port}/websocket_endpoint"


def logged(sample: SampleProcess) -> list[str]:
    return [line for line in sample.lines if line.startswith("DEV: ")]


@attrs.define
class KeptLines:
    """A `Logger` that keeps what it is given, for the test to read."""

    lines: list[str] = attrs.Factory(list)

    def log(self, text: str) -> None:
        self.lines.append(f"DEV: {text}")


async def test_mvc_websocket_python_clients_chat_and_the_logger_sees_them(neffos_client: Clients) -> None:
    logger = KeptLines()
    app = make_app(logger=logger)
    to_sender, to_receiver = Recorder(), Recorder()
    sender_conn = await neffos_client(app, to_sender, path=ENDPOINT)
    receiver_conn = await neffos_client(app, to_receiver, path=ENDPOINT)
    sender = await sender_conn.connect(NS)
    await receiver_conn.connect(NS)

    sender.emit("OnChat", "hello from python")
    received = await to_receiver.next("OnChat")
    await sender.disconnect()
    await neffos_client.close(receiver_conn)  # returns once the server has finished with it

    assert (received.namespace, received.event, received.text) == (NS, "OnChat", "hello from python")
    assert to_sender.all() == []
    assert logger.lines == [
        f"DEV: Connected {sender_conn.id}",
        f"DEV: Connected {receiver_conn.id}",
        f"DEV: [IP: 127.0.0.1] [ID: {sender_conn.id}] broadcast to other clients: hello from python",
        f"DEV: Disconnected {sender_conn.id}",
        f"DEV: Disconnected {receiver_conn.id}",
    ]


async def test_mvc_websocket_neffos_js_clients_chat_and_the_logger_sees_them(
    start_sample: StartSample, driver: NodeDriver
) -> None:
    sample = await start_sample("mvc_websocket")
    sender = await driver.dial(endpoint(sample), {NS: {"OnChat": RECORD}})
    receiver = await driver.dial(endpoint(sample), {NS: {"OnChat": RECORD}})
    await sender.connect(NS)
    await receiver.connect(NS)

    assert await sender.emit(NS, "OnChat", "hello from neffos.js")
    received = await receiver.wait_for("OnChat", ns=NS, timeout=TIMEOUT)
    await sender.disconnect(NS)
    code = await sample.stop()

    assert (received.namespace, received.text, received.is_local) == (NS, "hello from neffos.js", False)
    assert [m.event for m in sender.messages() if m.event == "OnChat"] == []
    assert logged(sample) == [
        f"DEV: Connected {sender.id}",
        f"DEV: Connected {receiver.id}",
        f"DEV: [IP: 127.0.0.1] [ID: {sender.id}] broadcast to other clients: hello from neffos.js",
        f"DEV: Disconnected {sender.id}",
        f"DEV: Disconnected {receiver.id}",
    ]
    assert code == 0


async def test_mvc_websocket_python_client_module_sends_typed_lines(start_sample: StartSample) -> None:
    sample = await start_sample("mvc_websocket")
    received: asyncio.Queue[Message] = asyncio.Queue()

    async def on_chat(ns: NSConn, msg: Message) -> None:
        received.put_nowait(msg)

    listener = await dial(endpoint(sample), {NS: {"OnChat": on_chat}})
    try:
        await listener.connect(NS)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "samples.mvc_websocket.client",
            "--url",
            endpoint(sample),
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(TIMEOUT):
            out, err = await process.communicate(b"first\n\nsecond\n")
            texts = [(await received.get()).text, (await received.get()).text]
    finally:
        await listener.close()

    assert process.returncode == 0, err.decode()
    assert out.decode().splitlines()[0].startswith("connected as ")
    assert texts == ["first", "second"]
