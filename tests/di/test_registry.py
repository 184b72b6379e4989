"""What register accepts, how a type is matched, and every registration-time error."""

from __future__ import annotations

from typing import Protocol

import attrs
import pytest
from aiohttp import web
from dependency_injector import containers, providers

from aioneffos.controllers import (
    AmbiguousDependencyError,
    CircularDependencyError,
    Controller,
    MissingDependencyError,
)
from aioneffos.di import Application, InvalidRegistrationError, Registry
from aioneffos.framework import Conn, Message, NSConn
from support.serving import Dial, ServeMvc
from tests.controllers.harness import mvc_application


class Logger(Protocol):
    def log(self, text: str) -> str: ...


class Store:
    name = "store"


class MemoryStore(Store):
    name = "memory"


class DiskStore(Store):
    name = "disk"


@attrs.frozen
class PrefixedLogger:
    prefix: str

    def log(self, text: str) -> str:
        return f"{self.prefix}: {text}"


@attrs.frozen
class Settings:
    greeting: str


@attrs.frozen
class Session:
    user: str
    conn_id: str
    same_ns: bool
    greeting: str


@attrs.frozen
class Database:
    url: str


@attrs.frozen
class Account:
    owner: str


class Chicken:
    pass


class Egg:
    pass


def open_session(request: web.Request, conn: Conn, ns: NSConn, settings: Settings) -> Session:
    return Session(request.query.get("user", "anon"), conn.id, ns.conn is conn, settings.greeting)


async def load_account(session: Session) -> Account:
    return Account(session.user.upper())


def account_for(database: Database) -> Account:
    return Account(database.url)


def chicken(egg: Egg) -> Chicken:
    return Chicken()


def egg(hen: Chicken) -> Egg:
    return Egg()


def no_return_annotation(settings: Settings):  # type: ignore[no-untyped-def]
    return settings


def unannotated_parameter(settings) -> Session:  # type: ignore[no-untyped-def]
    return settings  # type: ignore[no-any-return]


def positional_only(settings: Settings, /) -> Session:
    raise AssertionError


def with_default(limit: int = 3) -> Database:
    return Database(f"limit={limit}")


class UsesLogger(Controller):
    namespace = "default"
    logger: Logger

    async def OnLog(self, msg: Message) -> str:
        return self.logger.log(msg.text)


class UsesStore(Controller):
    namespace = "default"
    store: Store

    async def OnStore(self, msg: Message) -> str:
        return self.store.name


class UsesSession(Controller):
    namespace = "default"
    session: Session

    async def OnSession(self, msg: Message, account: Account) -> dict[str, object]:
        return {"session": attrs.asdict(self.session), "account": account.owner}


class UsesAccount(Controller):
    account: Account

    async def OnAccount(self, msg: Message) -> None: ...


class UsesChicken(Controller):
    hen: Chicken

    async def OnCluck(self, msg: Message) -> None: ...


class OptionalParameter(Controller):
    namespace = "default"

    async def OnLimit(self, msg: Message, database: Database, limit: int = 7) -> str:
        return f"{database.url} {limit}"


def di_application() -> Application:
    app = mvc_application(Application)
    assert isinstance(app, Application)
    return app


async def ask(
    serve_mvc: ServeMvc, clients: Dial, mvc_app: Application, event: str, query: str = ""
) -> Message:
    ns = await (await clients(await serve_mvc(mvc_app) + query)).connect("default")
    return await ns.ask(event)


async def test_instance_is_matched_by_a_protocol_it_implements(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = di_application()
    mvc_app.register(PrefixedLogger(prefix="DEV"))
    mvc_app.handle_websocket(UsesLogger)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    assert (await ns.ask("OnLog", "hi")).text == "DEV: hi"


async def test_instance_is_matched_by_a_base_class(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = di_application()
    mvc_app.register(MemoryStore())
    mvc_app.handle_websocket(UsesStore)

    assert (await ask(serve_mvc, clients, mvc_app, "OnStore")).text == "memory"


async def test_exact_type_wins_over_subclasses(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = di_application()
    mvc_app.register(MemoryStore(), Store(), DiskStore())
    mvc_app.handle_websocket(UsesStore)

    assert (await ask(serve_mvc, clients, mvc_app, "OnStore")).text == "store"


async def test_provides_registers_under_the_given_type(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = di_application()
    mvc_app.register(MemoryStore(), DiskStore())
    mvc_app.register(DiskStore(), provides=Store)
    mvc_app.handle_websocket(UsesStore)

    assert (await ask(serve_mvc, clients, mvc_app, "OnStore")).text == "disk"


async def test_registering_a_type_again_replaces_it(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = di_application()
    mvc_app.register(PrefixedLogger(prefix="OLD"))
    mvc_app.register(PrefixedLogger(prefix="NEW"))
    mvc_app.handle_websocket(UsesLogger)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    assert (await ns.ask("OnLog", "x")).text == "NEW: x"


def test_several_subclasses_are_ambiguous_for_their_base() -> None:
    mvc_app = di_application()
    mvc_app.register(MemoryStore(), DiskStore())

    with pytest.raises(AmbiguousDependencyError) as caught:
        mvc_app.handle_websocket(UsesStore)

    assert str(caught.value) == (
        "UsesStore.store: several registrations provide Store: DiskStore instance, MemoryStore instance; "
        "register the exact type, or use a Provide[...] marker"
    )


def test_missing_dependency_names_controller_member_and_type() -> None:
    with pytest.raises(MissingDependencyError) as caught:
        di_application().handle_websocket(UsesStore)

    assert (str(caught.value), caught.value.site, caught.value.annotation) == (
        "UsesStore.store: nothing registered provides Store",
        "UsesStore.store",
        Store,
    )


async def test_factory_parameters_are_resolved_from_the_connection(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    mvc_app = di_application()
    mvc_app.register(open_session, load_account, Settings(greeting="hey"))
    mvc_app.handle_websocket(UsesSession)
    ns = await (await clients(await serve_mvc(mvc_app) + "?user=ann")).connect("default")

    answer = (await ns.ask("OnSession")).json()

    assert answer == {
        "session": {"user": "ann", "conn_id": ns.conn.id, "same_ns": True, "greeting": "hey"},
        "account": "ANN",
    }


async def test_factory_parameter_default_applies_when_nothing_provides_it(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    mvc_app = di_application()
    mvc_app.register(with_default)
    mvc_app.handle_websocket(OptionalParameter)

    assert (await ask(serve_mvc, clients, mvc_app, "OnLimit")).text == "limit=3 7"


def test_missing_nested_dependency_names_the_path() -> None:
    mvc_app = di_application()
    mvc_app.register(account_for)

    with pytest.raises(MissingDependencyError) as caught:
        mvc_app.handle_websocket(UsesAccount)

    assert str(caught.value) == (
        "UsesAccount.account -> account_for(database): nothing registered provides Database"
    )


def test_circular_factories_raise() -> None:
    mvc_app = di_application()
    mvc_app.register(chicken, egg)

    with pytest.raises(CircularDependencyError) as caught:
        mvc_app.handle_websocket(UsesChicken)

    assert str(caught.value) == (
        "UsesChicken.hen -> chicken(egg) -> egg(hen): dependency cycle: chicken() -> egg() -> chicken()"
    )


@pytest.mark.parametrize(
    ("dependency", "message"),
    [
        (no_return_annotation, "no_return_annotation(): annotate its return type, or pass provides=<type>"),
        (unannotated_parameter, "unannotated_parameter(settings): annotate it so that it can be resolved"),
        (positional_only, "positional_only(settings): positional-only parameters cannot be filled"),
        (
            providers.Configuration(),
            "cannot tell what type a Configuration provider gives: pass provides=<type>, "
            "or reach it through a container and Provide[...]",
        ),
    ],
)
def test_unusable_registration_raises(dependency: object, message: str) -> None:
    with pytest.raises(InvalidRegistrationError) as caught:
        Registry().register(dependency)

    assert str(caught.value) == message


def test_container_class_is_refused_for_an_instance() -> None:
    class Services(containers.DeclarativeContainer):
        store = providers.Object(Store())

    with pytest.raises(InvalidRegistrationError, match=r"^register a container instance \(.*Services\(\)\)"):
        Registry().register(Services)


def test_provides_names_exactly_one_dependency() -> None:
    with pytest.raises(TypeError, match=r"^provides= names the type of exactly one dependency$"):
        Registry().register(Store(), MemoryStore(), provides=Store)


def test_provider_lookup_of_an_unregistered_type_raises() -> None:
    with pytest.raises(LookupError, match=r"^nothing is registered as Store$"):
        Registry().provider(Store)
