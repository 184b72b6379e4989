"""Event matchers: prefix (the default), trim-prefix, exact; system methods are never matched."""

from __future__ import annotations

import pytest

from aioneffos.controllers import (
    Controller,
    InvalidEventMethodError,
    event_exact_matcher,
    event_prefix_matcher,
    event_trim_prefix_matcher,
)
from aioneffos.framework import Message
from support.serving import Dial, ServeMvc
from tests.controllers.harness import mvc_application


class Chat(Controller):
    namespace = "default"

    async def OnNamespaceConnected(self, msg: Message) -> None: ...

    async def OnChat(self, msg: Message) -> str:
        return "chat:" + msg.text

    async def HandleJoin(self, msg: Message) -> str:  # noqa: N802 - matched by a "Handle" prefix
        return "join"

    async def render(self, msg: Message) -> str:
        return "render"


def test_prefix_matcher_keeps_matching_names() -> None:
    matcher = event_prefix_matcher("On")

    assert (matcher("OnChat"), matcher("Chat"), matcher("On")) == ("OnChat", None, "On")


def test_trim_prefix_matcher_strips_the_prefix() -> None:
    matcher = event_trim_prefix_matcher("On")

    assert (matcher("OnChat"), matcher("Chat"), matcher("On")) == ("Chat", None, None)


def test_exact_matcher_keeps_listed_names_verbatim_or_renamed() -> None:
    verbatim = event_exact_matcher(["render"])
    renamed = event_exact_matcher({"render": "draw"})

    assert (verbatim("render"), verbatim("OnChat"), renamed("render")) == ("render", None, "draw")


def test_default_matcher_takes_on_methods_only() -> None:
    handle = mvc_application().handle_websocket(Chat)

    assert sorted(handle.events) == ["OnChat", "_OnNamespaceConnect", "_OnNamespaceConnected"]


def test_set_event_matcher_recompiles_and_never_touches_system_methods() -> None:
    handle = mvc_application().handle_websocket(Chat).set_event_matcher(event_prefix_matcher("Handle"))

    assert sorted(handle.events) == ["HandleJoin", "_OnNamespaceConnect", "_OnNamespaceConnected"]


def test_exact_matcher_renames_events() -> None:
    handle = mvc_application().handle_websocket(Chat)
    handle.set_event_matcher(event_exact_matcher({"render": "draw", "OnChat": "chat"}))

    assert sorted(handle.events) == ["_OnNamespaceConnect", "_OnNamespaceConnected", "chat", "draw"]


def test_custom_matcher_is_any_callable() -> None:
    handle = mvc_application().handle_websocket(Chat)
    handle.set_event_matcher(lambda name: name.lower() if name.startswith("On") else None)

    assert "onchat" in handle.events


def test_matcher_giving_the_same_event_twice_raises() -> None:
    handle = mvc_application().handle_websocket(Chat)

    with pytest.raises(InvalidEventMethodError, match=r"^Chat.render: event 'x' is already answered by On"):
        handle.set_event_matcher(event_exact_matcher({"OnChat": "x", "render": "x"}))


def test_matcher_giving_a_non_name_raises_and_keeps_the_previous_matcher() -> None:
    handle = mvc_application().handle_websocket(Chat)

    with pytest.raises(InvalidEventMethodError, match=r"^Chat.OnChat: the event matcher gave '', not an"):
        handle.set_event_matcher(lambda name: "" if name == "OnChat" else None)
    assert "OnChat" in handle.events


async def test_trim_prefix_matcher_serves_events_without_prefix(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Chat).set_event_matcher(event_trim_prefix_matcher("On"))
    conn = await clients(await serve_mvc(mvc_app))
    ns = await conn.connect("default")

    assert (await ns.ask("Chat", "hi")).text == "chat:hi"
