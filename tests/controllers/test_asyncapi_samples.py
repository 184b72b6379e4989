"""Every sample's AsyncAPI document validates with the official parser and says what the sample does.

Documents come the way users get them: ``python -m aioneffos.controllers.asyncapi
samples.<name>...:make_app`` (the CLI), or `asyncapi` for the scale-out sample, whose
server needs an exchange; the chat sample's route serves its own over a real socket.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from aioneffos.controllers.asyncapi import asyncapi
from aioneffos.framework import LocalExchange
from samples.chat.app import make_app as make_chat_app
from samples.scale_out.app import make_server as make_scale_out_server
from support.tools import REPO_ROOT
from tests.controllers.asyncapi_parser import by_id, parse, plain, problems

CLI_TARGETS = {
    "basic": "samples.basic.server:make_app",
    "chat": "samples.chat.app:make_app",
    "mvc_websocket": "samples.mvc_websocket.app:make_app",
    "native_messages": "samples.native_messages.server:make_app",
    "online_visitors": "samples.online_visitors.server:make_app",
    "request_response": "samples.request_response.server:make_app",
}
SAMPLES = [*CLI_TARGETS, "scale_out"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aioneffos.controllers.asyncapi *args`` from the repository root."""
    command = [sys.executable, "-m", "aioneffos.controllers.asyncapi", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    """Each sample's document as text: JSON from the CLI (YAML for chat, as the README shows)."""
    found = {}
    for name, target in CLI_TARGETS.items():
        result = cli(target, *(["--format", "yaml"] if name == "chat" else []))
        assert result.returncode == 0, result.stderr
        found[name] = result.stdout
    found["scale_out"] = json.dumps(asyncapi(make_scale_out_server(LocalExchange())))
    return found


@pytest.fixture(scope="module")
def reports(texts: dict[str, str]) -> dict[str, Any]:
    """The parser's report on every sample's document, from one Node run."""
    return parse(texts)


def model_of(reports: dict[str, Any], name: str) -> dict[str, Any]:
    model: dict[str, Any] = reports[name]["model"]
    return model


def messages_of(model: dict[str, Any], channel: str) -> dict[str, dict[str, Any]]:
    return by_id(by_id(model["channels"])[channel]["messages"])


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_document_validates_with_the_official_parser(reports: dict[str, Any], sample: str) -> None:
    assert problems(reports[sample]) == []
    assert model_of(reports, sample)["version"] == "3.0.0"


def test_chat_document_has_the_controller_events_and_schemas(reports: dict[str, Any]) -> None:
    model = model_of(reports, "chat")

    assert [channel["id"] for channel in model["channels"]] == ["chat"]
    operations = by_id(model["operations"])
    assert {op: operations[op]["action"] for op in operations if ".OnChat" in op or "OnHistory" in op} == {
        "chat.receive.OnChat": "receive",
        "chat.send.OnChat": "send",
        "chat.send.OnHistory": "send",
    }
    messages = messages_of(model, "chat")
    said = plain(messages["OnChat"]["payload"])
    assert (said["title"], said["required"], said["properties"]) == (
        "ChatText",
        ["text"],
        {"text": {"type": "string"}},
    )
    sent = plain(messages["OnChat_sent"]["payload"])
    assert sent["title"] == "ChatMessage"
    assert sent["required"] == ["room", "sender", "text", "at"]
    history = plain(messages["OnHistory"]["payload"])
    assert history["type"] == "array"
    assert history["items"]["title"] == "ChatMessage"
    assert plain(messages["OnNotice"]["payload"]) == {"type": "string"}
    assert model["schemas"] == ["ChatText", "ChatMessage"]


def test_chat_yaml_from_the_cli_reads_back_as_its_json(reports: dict[str, Any]) -> None:
    result = cli(CLI_TARGETS["chat"])

    assert reports["chat"]["loaded"] == json.loads(result.stdout)


def test_basic_document_has_the_workday_ask_and_notify(reports: dict[str, Any]) -> None:
    model = model_of(reports, "basic")

    assert by_id(model["channels"])["v1"]["address"] == "/v1/{room}"
    operations = by_id(model["operations"])
    assert operations["v1.receive.workday"]["reply"] == ["workday_reply", "error"]
    assert operations["v1.send.notify"]["action"] == "send"
    assert messages_of(model, "v1")["workday_reply"]["contentType"] == "text/plain"


def test_mvc_websocket_document_has_chat_both_ways(reports: dict[str, Any]) -> None:
    operations = by_id(model_of(reports, "mvc_websocket")["operations"])

    assert operations["default.receive.OnChat"]["messages"] == ["OnChat"]
    assert operations["default.receive.OnChat"]["reply"] is None  # OnChat returns None
    assert operations["default.send.OnChat"]["messages"] == ["OnChat_sent"]


def test_native_messages_document_is_native_only(reports: dict[str, Any]) -> None:
    model = model_of(reports, "native_messages")

    assert [(channel["id"], channel["address"]) for channel in model["channels"]] == [("root", None)]
    assert sorted(op["action"] for op in model["operations"]) == ["receive", "send"]


def test_online_visitors_document_has_the_room_hooks_and_counts(reports: dict[str, Any]) -> None:
    operations = by_id(model_of(reports, "online_visitors")["operations"])

    assert operations["default.receive._OnRoomJoin"]["reply"] == ["empty", "error"]
    assert operations["default.send.onNewVisit"]["action"] == "send"


def test_request_response_document_has_the_server_ask(reports: dict[str, Any]) -> None:
    model = model_of(reports, "request_response")

    operation = by_id(model["operations"])["default.send.question"]
    assert operation["reply"] == ["question_reply", "error"]
    assert plain(messages_of(model, "default")["question_reply"]["payload"]) == {"type": "string"}


def test_scale_out_document_has_json_replies_and_pushes(reports: dict[str, Any]) -> None:
    model = model_of(reports, "scale_out")

    operations = by_id(model["operations"])
    assert operations["chat.receive.hello"]["reply"] == ["hello_reply", "error"]
    assert operations["chat.receive.poke"]["reply"] == ["poke_reply", "error"]
    assert operations["chat.send.poke"]["reply"] == ["poke_sent_reply", "error"]
    messages = messages_of(model, "chat")
    assert plain(messages["hello_reply"]["payload"]) == {"type": "object"}
    assert messages["poke_reply"]["contentType"] == "application/octet-stream"
    assert messages["poke_sent_reply"]["contentType"] == "application/octet-stream"
    assert messages["whisper"]["payload"] is None  # what the client sends: raw text
    whisper = plain(messages["whisper_sent"]["payload"])
    assert (whisper["title"], sorted(whisper["required"])) == ("Said", ["from", "text"])
    assert plain(messages["system"]["payload"])["properties"]["broker"] == {"enum": ["down", "up"]}


def test_cli_refuses_a_target_that_is_no_server() -> None:
    result = cli("samples.common:REPO_ROOT")

    assert result.returncode == 2
    expected = "error: samples.common:REPO_ROOT: expected a Server, an aiohttp application"
    assert result.stderr.startswith(expected)


def test_cli_refuses_a_spec_without_attribute() -> None:
    result = cli("samples.chat.app")

    assert (result.returncode, result.stderr) == (2, "error: expected module:attr, got 'samples.chat.app'\n")


async def test_chat_route_serves_the_document_for_the_host_asked(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    client = await aiohttp_client(make_chat_app())

    response = await client.get("/asyncapi.json")
    text = await response.text()

    assert (response.status, response.content_type) == (200, "application/json")
    document = json.loads(text)
    assert document["info"]["title"] == "chat sample"
    host = f"{client.host}:{client.port}"
    assert document["servers"] == {
        "default": {
            "host": host,
            "protocol": "ws",
            "pathname": "/ws",
            "description": "The websocket endpoint (HTTP GET, upgraded).",
        }
    }
    report = parse({"served": text})["served"]
    assert problems(report) == []
    server = {"id": "default", "host": host, "protocol": "ws", "pathname": "/ws"}
    assert report["model"]["servers"] == [server]
