"""Reflection at ``handle_websocket``: events, system methods, namespaces and every fail-fast error."""

from __future__ import annotations

from typing import Any

import pytest

from aioneffos.controllers import (
    BaseApplication,
    Controller,
    InvalidControllerError,
    InvalidEventMethodError,
    MissingDependencyError,
)
from aioneffos.framework import Message, NeffosError, Server
from tests.controllers.harness import mvc_application


class ChatController(Controller):
    namespace = "default"

    async def OnChat(self, msg: Message) -> None: ...

    async def OnTyping(self, msg: Message) -> None: ...

    async def helper(self) -> None: ...

    def sync_helper(self) -> int:
        return 1


class SystemController(Controller):
    async def OnNamespaceConnect(self, msg: Message) -> None: ...
    async def OnNamespaceConnected(self, msg: Message) -> None: ...
    async def OnNamespaceDisconnect(self, msg: Message) -> None: ...
    async def OnRoomJoin(self, msg: Message) -> None: ...
    async def OnRoomJoined(self, msg: Message) -> None: ...
    async def OnRoomLeave(self, msg: Message) -> None: ...
    async def OnRoomLeft(self, msg: Message) -> None: ...
    async def OnAnyEvent(self, msg: Message) -> None: ...
    async def OnNativeMessage(self, msg: Message) -> None: ...


class AttributeNamespace(Controller):
    namespace = "from-attribute"

    async def OnChat(self, msg: Message) -> None: ...


class MethodNamespace(AttributeNamespace):
    def namespace(self) -> str:  # type: ignore[override]
        return "from-method"


class NoNamespace(Controller):
    async def OnChat(self, msg: Message) -> None: ...


class NeedsArguments(Controller):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    async def OnChat(self, msg: Message) -> None: ...


class NoEvents(Controller):
    namespace = "default"

    async def helper(self) -> None: ...


class SyncEvent(Controller):
    def OnChat(self, msg: Message) -> None: ...


class StarArgs(Controller):
    async def OnChat(self, msg: Message, *extra: Any) -> None: ...


class StaticEvent(Controller):
    @staticmethod
    async def OnChat(msg: Message) -> None: ...


class UnresolvableAnnotation(Controller):
    async def OnChat(self, msg: Message, thing: DoesNotExist) -> None: ...  # type: ignore[name-defined]  # noqa: F821


class NeedsService(Controller):
    service: dict[str, int]

    async def OnChat(self, msg: Message) -> None: ...


def event_names(mvc_app: BaseApplication, controller: Any) -> list[str]:
    return sorted(mvc_app.handle_websocket(controller).events)


def test_reflection_on_methods_become_events_named_verbatim() -> None:
    assert event_names(mvc_application(), ChatController) == ["OnChat", "OnTyping", "_OnNamespaceConnect"]


def test_reflection_system_methods_map_to_wire_events() -> None:
    assert event_names(mvc_application(), SystemController) == [
        "_OnAnyEvent",
        "_OnNamespaceConnect",
        "_OnNamespaceConnected",
        "_OnNamespaceDisconnect",
        "_OnNativeMessage",
        "_OnRoomJoin",
        "_OnRoomJoined",
        "_OnRoomLeave",
        "_OnRoomLeft",
    ]


def test_reflection_set_namespace_wins_over_method_and_attribute() -> None:
    handle = mvc_application().handle_websocket(MethodNamespace).set_namespace("chosen")

    assert (handle.namespace, list(handle.get_namespaces())) == ("chosen", ["chosen"])


def test_reflection_namespace_method_wins_over_attribute() -> None:
    assert mvc_application().handle_websocket(MethodNamespace).namespace == "from-method"


def test_reflection_template_attribute_wins_over_class_attribute() -> None:
    template = AttributeNamespace(namespace="from-template")

    assert mvc_application().handle_websocket(template).namespace == "from-template"


def test_reflection_class_attribute_names_the_namespace() -> None:
    assert mvc_application().handle_websocket(AttributeNamespace).namespace == "from-attribute"


def test_reflection_namespace_defaults_to_empty() -> None:
    assert mvc_application().handle_websocket(NoNamespace).namespace == ""


def test_reflection_non_str_namespace_raises() -> None:
    with pytest.raises(InvalidControllerError, match=r"^NoNamespace.namespace: expected a str, got 7$"):
        mvc_application().handle_websocket(NoNamespace(namespace=7))


def test_reflection_non_controller_raises_type_error() -> None:
    with pytest.raises(TypeError, match="expects a Controller subclass or an instance of one, got <class"):
        mvc_application().handle_websocket(int)  # type: ignore[arg-type]


def test_reflection_base_controller_itself_is_refused() -> None:
    with pytest.raises(InvalidControllerError, match="expects a Controller subclass"):
        mvc_application().handle_websocket(Controller)


def test_reflection_constructor_with_arguments_raises() -> None:
    with pytest.raises(InvalidControllerError, match=r"^NeedsArguments: a controller is created once per"):
        mvc_application().handle_websocket(NeedsArguments)


def test_reflection_controller_without_events_raises_when_the_server_is_built() -> None:
    # Not at handle_websocket: `.set_event_matcher(...)` may still pick the events.
    mvc_app = mvc_application()
    mvc_app.handle_websocket(NoEvents)
    with pytest.raises(InvalidControllerError, match=r"^NoEvents: no event methods; define"):
        Server(mvc_app)


def test_reflection_sync_on_method_raises_naming_controller_and_method() -> None:
    with pytest.raises(
        InvalidEventMethodError,
        match=r"^SyncEvent.OnChat: an event method must be a coroutine function \(`async def`\)$",
    ):
        mvc_application().handle_websocket(SyncEvent)


def test_reflection_star_args_raise() -> None:
    with pytest.raises(InvalidEventMethodError, match=r"^StarArgs.OnChat\(\*extra\): cannot be filled"):
        mvc_application().handle_websocket(StarArgs)


def test_reflection_staticmethod_event_raises() -> None:
    with pytest.raises(InvalidEventMethodError, match=r"^StaticEvent.OnChat: an event must be a plain"):
        mvc_application().handle_websocket(StaticEvent)


def test_reflection_unresolvable_annotation_raises() -> None:
    with pytest.raises(InvalidEventMethodError, match=r"^UnresolvableAnnotation.OnChat: cannot resolve"):
        mvc_application().handle_websocket(UnresolvableAnnotation)


def test_reflection_dependency_without_injector_raises_naming_member_and_type() -> None:
    with pytest.raises(MissingDependencyError) as caught:
        mvc_application().handle_websocket(NeedsService)

    expected = "NeedsService.service: nothing provides dict[str, int] (no dependency container)"
    assert str(caught.value) == expected
    assert (caught.value.site, caught.value.annotation) == ("NeedsService.service", dict[str, int])


def test_reflection_errors_are_neffos_errors() -> None:
    with pytest.raises(NeffosError):
        mvc_application().handle_websocket(SyncEvent)
