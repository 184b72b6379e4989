"""dependency-injector providers, containers with Provide[...] markers, and overriding in tests."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Annotated, NewType

import attrs
import pytest
from dependency_injector import containers, providers

from aioneffos.controllers import Controller, MissingDependencyError
from aioneffos.di import Application, Provide, Provider
from aioneffos.framework import Message
from support.serving import Dial, ServeMvc
from support.waiting import Inbox
from tests.controllers.harness import mvc_application

RECORD = Inbox()
SERIALS = itertools.count(1)


@attrs.frozen
class Clock:
    serial: int = attrs.field(factory=lambda: next(SERIALS))


@attrs.frozen
class Mailer:
    sender: str


async def pool() -> AsyncIterator[Clock]:
    RECORD("pool up")
    yield Clock(0)
    RECORD("pool down")


class Services(containers.DeclarativeContainer):
    config = providers.Configuration()
    clock = providers.Factory(Clock)
    mailer = providers.Singleton(Mailer, sender=config.sender)


class ClockController(Controller):
    namespace = "default"
    clock: Clock

    async def OnTime(self, msg: Message, fresh: Clock) -> str:
        return f"{self.clock.serial} {fresh.serial}"


class MarkedController(Controller):
    namespace = "default"
    mailer: Mailer = Provide[Services.mailer]
    annotated: Annotated[Mailer, Provide["mailer"]]
    sender: str = Provide[Services.config.sender]

    async def OnMail(
        self, msg: Message, clock: Clock = Provide[Services.clock], factory: object = Provider[Services.clock]
    ) -> str:
        same = self.mailer is self.annotated
        return f"{self.mailer.sender} {self.sender} {same} {clock.serial} {factory is CONTAINERS[-1].clock}"


CONTAINERS: list[Services] = []


@pytest.fixture(autouse=True)
def _fresh() -> None:
    RECORD.clear()
    CONTAINERS.clear()


def di_application() -> Application:
    app = mvc_application(Application)
    assert isinstance(app, Application)
    return app


def services(sender: str = "noreply@example.org") -> Services:
    container = Services()
    container.config.from_dict({"sender": sender})
    CONTAINERS.append(container)
    return container


async def connect_and_ask(serve_mvc: ServeMvc, clients: Dial, mvc_app: Application, event: str) -> list[str]:
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")
    return [(await ns.ask(event)).text for _ in range(2)]


async def test_singleton_provider_gives_one_value(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = di_application()
    mvc_app.register(providers.Singleton(Clock))
    mvc_app.handle_websocket(ClockController)

    first, second = await connect_and_ask(serve_mvc, clients, mvc_app, "OnTime")

    assert first == second == f"{first.split()[0]} {first.split()[0]}"


async def test_factory_provider_gives_a_value_per_resolution(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = di_application()
    mvc_app.register(providers.Factory(Clock))
    mvc_app.handle_websocket(ClockController)

    answers = await connect_and_ask(serve_mvc, clients, mvc_app, "OnTime")

    attribute = int(answers[0].split()[0])
    assert answers == [f"{attribute} {attribute + 1}", f"{attribute} {attribute + 2}"]


async def test_resource_provider_starts_once_and_stops_with_the_app(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    mvc_app = di_application()
    mvc_app.register(providers.Resource(pool))
    mvc_app.handle_websocket(ClockController)

    answers = await connect_and_ask(serve_mvc, clients, mvc_app, "OnTime")
    await mvc_app.app.cleanup()

    assert (answers, RECORD.entries) == (["0 0", "0 0"], ["pool up", "pool down"])


async def test_container_markers_reach_its_providers(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = di_application()
    mvc_app.register(services())
    mvc_app.handle_websocket(MarkedController)

    first, second = await connect_and_ask(serve_mvc, clients, mvc_app, "OnMail")

    serial = int(first.split()[3])
    assert (first, second) == (
        f"noreply@example.org noreply@example.org True {serial} True",
        f"noreply@example.org noreply@example.org True {serial + 1} True",
    )


def test_marker_without_a_registered_container_raises() -> None:
    with pytest.raises(MissingDependencyError) as caught:
        di_application().handle_websocket(MarkedController)

    assert str(caught.value).startswith("MarkedController.mailer: no registered container provides Provide[")


async def test_registered_provider_can_be_overridden_after_registration(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    mvc_app = di_application()
    mvc_app.register(Clock(1))
    mvc_app.handle_websocket(ClockController)
    mvc_app.registry.provider(Clock).override(providers.Object(Clock(99)))

    assert await connect_and_ask(serve_mvc, clients, mvc_app, "OnTime") == ["99 99", "99 99"]


async def test_container_provider_override_takes_effect(serve_mvc: ServeMvc, clients: Dial) -> None:
    container = services()
    mvc_app = di_application()
    mvc_app.register(container)
    mvc_app.handle_websocket(MarkedController)
    container.mailer.override(providers.Object(Mailer("fake@test")))

    first, _ = await connect_and_ask(serve_mvc, clients, mvc_app, "OnMail")

    assert first.startswith("fake@test noreply@example.org True ")


async def test_factory_override_replaces_the_whole_factory(serve_mvc: ServeMvc, clients: Dial) -> None:
    def make_clock(mailer: Mailer) -> Clock:
        raise AssertionError("overridden")

    mvc_app = di_application()
    mvc_app.register(make_clock, Mailer("unused"))
    mvc_app.handle_websocket(ClockController)

    with mvc_app.registry.provider(Clock).override(providers.Factory(Clock, serial=5)):
        answers = await connect_and_ask(serve_mvc, clients, mvc_app, "OnTime")

    assert answers == ["5 5", "5 5"]


def test_registered_containers_markers_are_recognised() -> None:
    registry = di_application().registry

    assert (registry.is_marker(Provide[Services.clock]), registry.is_marker(Services.clock)) == (True, False)


AppConfig = NewType("AppConfig", dict)  # type: ignore[type-arg]


class ConfiguredController(Controller):
    namespace = "default"
    config: AppConfig

    async def OnConfig(self, msg: Message) -> str:
        return str(self.config["greeting"])


async def test_configuration_provider_registers_under_the_given_type(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    config = providers.Configuration()
    config.from_dict({"greeting": "hello from config"})
    mvc_app = di_application()
    mvc_app.register(config, provides=AppConfig)
    mvc_app.handle_websocket(ConfiguredController)

    assert await connect_and_ask(serve_mvc, clients, mvc_app, "OnConfig") == ["hello from config"] * 2
