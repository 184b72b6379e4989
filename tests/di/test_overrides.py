"""``mvc_app.override(T, replacement)``: dependencies replaced for a ``with`` block, restored on exit.

Driven through `aioneffos.testing.connect` (a real `Server` session in memory), as a user's
tests would.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Protocol

import attrs
import pytest
from aiohttp import web
from dependency_injector import containers, providers

from aioneffos.controllers import Controller, MissingDependencyError, Scope
from aioneffos.di import Application, Provide
from aioneffos.framework import Message, Server
from aioneffos.testing import connect

SERIALS = itertools.count(1)


class Logger(Protocol):
    def log(self, text: str) -> None: ...


@attrs.define
class ListLogger:
    """Keeps what it logs, with its name in front."""

    name: str
    lines: list[str] = attrs.Factory(list)

    def log(self, text: str) -> None:
        self.lines.append(f"{self.name}: {text}")


@attrs.frozen
class User:
    name: str


@attrs.frozen
class Clock:
    serial: int = attrs.field(factory=lambda: next(SERIALS))


def current_user(request: web.Request) -> User:
    return User(request.headers["X-User"])


class Greeter(Controller):
    namespace = "default"
    logger: Logger
    user: User
    clock: Clock

    async def OnHello(self, msg: Message) -> str:
        self.logger.log(f"hello from {self.user.name}")
        return f"{self.user.name} {self.clock.serial}"


class Mailer:
    def __init__(self, sender: str) -> None:
        self.sender = sender


class Services(containers.DeclarativeContainer):
    mailer = providers.Singleton(Mailer, sender="noreply@example.org")


class MailController(Controller):
    namespace = "default"
    mailer: Mailer = Provide[Services.mailer]

    async def OnSender(self, msg: Message) -> str:
        return self.mailer.sender


@pytest.fixture
def real_logger() -> ListLogger:
    return ListLogger("real")


@pytest.fixture
def mvc_app(real_logger: ListLogger) -> Application:
    mvc_app = Application(web.Application(), "/ws")
    mvc_app.register(real_logger, current_user)
    mvc_app.register(Clock, scope=Scope.APP)
    mvc_app.handle_websocket(Greeter)
    return mvc_app


async def hello(server: Server, user: str = "ann") -> str:
    async with connect(server, headers={"X-User": user}) as conn:
        return (await (await conn.connect("default")).ask("OnHello")).text


async def test_override_replaces_an_instance_found_by_its_protocol_and_restores_it(
    mvc_app: Application, real_logger: ListLogger
) -> None:
    server = Server(mvc_app)
    fake = ListLogger("fake")

    with mvc_app.override(Logger, fake):
        await hello(server, "ann")
    await hello(server, "bob")

    assert (fake.lines, real_logger.lines) == (["fake: hello from ann"], ["real: hello from bob"])
    await server.close()


async def test_override_of_a_connection_factory_with_a_value_and_with_a_factory(mvc_app: Application) -> None:
    server = Server(mvc_app)

    with mvc_app.override(User, User("nobody needs a header")):
        by_value = await hello(server, "ann")
    with mvc_app.override(User, lambda: User("made")):
        by_factory = await hello(server, "ann")
    after = await hello(server, "ann")

    assert [answer.split()[0] for answer in (by_value, by_factory, after)] == ["nobody", "made", "ann"]
    await server.close()


async def test_override_sets_an_app_scope_value_aside_and_brings_it_back(mvc_app: Application) -> None:
    server = Server(mvc_app)
    before = (await hello(server)).split()[1]

    with mvc_app.override(Clock, Clock(0)):
        during = (await hello(server)).split()[1]
    after = (await hello(server)).split()[1]

    assert (during, after) == ("0", before)  # the same app-scope clock as before the override
    await server.close()


async def test_overrides_nest_and_unwind_in_order(mvc_app: Application) -> None:
    server = Server(mvc_app)

    with mvc_app.override(User, User("outer")):
        with mvc_app.override(User, User("inner")):
            inner = await hello(server)
        outer = await hello(server)

    assert (inner.split()[0], outer.split()[0]) == ("inner", "outer")
    await server.close()


async def test_a_connection_opened_before_the_override_keeps_its_values(
    mvc_app: Application, real_logger: ListLogger
) -> None:
    server = Server(mvc_app)
    fake = ListLogger("fake")

    async with connect(server, headers={"X-User": "early"}) as conn:
        ns = await conn.connect("default")
        with mvc_app.override(Logger, fake):
            await ns.ask("OnHello")

    assert (real_logger.lines, fake.lines) == (["real: hello from early"], [])
    await server.close()


async def test_override_of_a_generator_factory_runs_its_cleanup_when_the_connection_ends(
    mvc_app: Application,
) -> None:
    steps: list[str] = []

    def fake_user() -> Iterator[User]:
        steps.append("open")
        yield User("gen")
        steps.append("close")

    server = Server(mvc_app)
    with mvc_app.override(User, fake_user):
        name = (await hello(server)).split()[0]

    assert (name, steps) == ("gen", ["open", "close"])
    await server.close()


async def test_override_of_a_container_provider() -> None:
    container = Services()
    mvc_app = Application(web.Application(), "/ws")
    mvc_app.register(container)
    mvc_app.handle_websocket(MailController)
    server = Server(mvc_app)

    with mvc_app.override(container.mailer, Mailer("fake@test")):
        async with connect(server) as conn:
            sender = await (await conn.connect("default")).ask("OnSender")

    assert (sender.text, container.mailer().sender) == ("fake@test", "noreply@example.org")
    await server.close()


def test_override_of_what_nothing_provides_says_so(mvc_app: Application) -> None:
    missing = r"^override\(Mailer\): nothing registered provides Mailer$"
    with pytest.raises(MissingDependencyError, match=missing), mvc_app.override(Mailer, Mailer("x")):
        pass


def test_override_with_a_factory_that_takes_arguments_is_refused(mvc_app: Application) -> None:
    def user_of(request: web.Request) -> User:
        return User("x")

    with (
        pytest.raises(TypeError, match="called with no arguments, and this one takes request"),
        mvc_app.override(User, user_of),
    ):
        pass


def test_override_of_an_instance_with_a_generator_is_refused(mvc_app: Application) -> None:
    def logger() -> Iterator[ListLogger]:
        yield ListLogger("gen")

    with (
        pytest.raises(TypeError, match="a generator factory replaces only a registered factory"),
        mvc_app.override(Logger, logger),
    ):
        pass
