"""The three scopes (app, connection, event), scope errors, cleanup order and failing dependencies."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator

import attrs
import pytest
from aiohttp import web

from aioneffos.controllers import Controller, ScopeMismatchError
from aioneffos.di import Application, Scope
from aioneffos.framework import Message, RemoteError
from compat.node_client import CommandError, NodeDriver, require_node
from support.serving import Dial, ServeMvc
from support.waiting import Inbox
from tests.controllers.harness import mvc_application

RECORD = Inbox()
SERIALS = itertools.count(1)


@attrs.frozen
class User:
    name: str
    serial: int = attrs.field(factory=lambda: next(SERIALS))


@attrs.frozen
class Transaction:
    serial: int = attrs.field(factory=lambda: next(SERIALS))


@attrs.frozen
class Cursor:
    transaction: Transaction


@attrs.frozen
class Pool:
    serial: int = attrs.field(factory=lambda: next(SERIALS))


@attrs.frozen
class Audit:
    event: str


def current_user(request: web.Request) -> Iterator[User]:
    name = request.query.get("user", "anon")
    if name == "mallory":
        raise PermissionError("mallory is not welcome")
    user = User(name)
    RECORD(f"user {name} opened")
    yield user
    RECORD(f"user {name} closed")


def transaction() -> Iterator[Transaction]:
    tx = Transaction()
    RECORD("tx opened")
    yield tx
    RECORD("tx closed")


async def cursor(tx: Transaction, msg: Message) -> AsyncIterator[Cursor]:
    if msg.text == "no cursor":
        raise LookupError("no cursor today")
    RECORD("cursor opened")
    yield Cursor(tx)
    RECORD("cursor closed")


def pool() -> Iterator[Pool]:
    RECORD("pool opened")
    yield Pool()
    RECORD("pool closed")


def audit(msg: Message) -> Audit:
    return Audit(msg.event)


def pool_from_request(request: web.Request) -> Pool:
    return Pool()


def never_yields() -> Iterator[Transaction]:
    return
    yield Transaction()


class Account(Controller):
    namespace = "default"
    user: User
    pool: Pool

    async def OnNamespaceDisconnect(self, msg: Message) -> None:
        RECORD("disconnect hook")

    async def OnWho(self, msg: Message, user: User, again: User) -> str:
        return f"{self.user.serial} {user.serial} {again.serial} {self.pool.serial}"

    async def OnSpend(self, msg: Message, cursor: Cursor, tx: Transaction) -> str:
        RECORD("spending")
        if msg.text == "fail":
            raise ValueError("insufficient funds")
        return f"{cursor.transaction.serial} {tx.serial}"


class Spender(Controller):
    namespace = "default"

    async def OnSpend(self, msg: Message, tx: Transaction) -> None: ...


class EventScopedAttribute(Controller):
    audit: Audit

    async def OnX(self, msg: Message) -> None: ...


class EventPinnedAttribute(Controller):
    tx: Transaction

    async def OnX(self, msg: Message) -> None: ...


class ConnectionInApp(Controller):
    pool: Pool

    async def OnX(self, msg: Message) -> None: ...


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    RECORD.clear()


def account_app(*, user_scope: Scope | None = None) -> Application:
    mvc_app = mvc_application(Application)
    assert isinstance(mvc_app, Application)
    mvc_app.register(current_user, scope=user_scope)
    mvc_app.register(transaction, cursor)
    mvc_app.register(pool, scope=Scope.APP)
    mvc_app.handle_websocket(Account)
    return mvc_app


async def test_connection_value_is_shared_by_the_events_of_one_connection(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    url = await serve_mvc(account_app(user_scope=Scope.CONNECTION))
    ns = await (await clients(url)).connect("default")

    first, second = (await ns.ask("OnWho")).text.split(), (await ns.ask("OnWho")).text.split()

    assert first[:3] == second[:3] == [first[0]] * 3


async def test_connection_values_differ_across_connections(serve_mvc: ServeMvc, clients: Dial) -> None:
    url = await serve_mvc(account_app(user_scope=Scope.CONNECTION))
    first = await (await clients(url + "?user=ann")).connect("default")
    second = await (await clients(url + "?user=bob")).connect("default")

    one, two = (await first.ask("OnWho")).text.split(), (await second.ask("OnWho")).text.split()

    assert one[0] != two[0]
    assert [entry for entry in RECORD.entries if entry.startswith("user")] == [
        "user ann opened",
        "user bob opened",
    ]


async def test_unpinned_factory_runs_once_per_connection_and_once_per_event(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    url = await serve_mvc(account_app())
    ns = await (await clients(url)).connect("default")

    first, second = (await ns.ask("OnWho")).text.split(), (await ns.ask("OnWho")).text.split()

    assert first[0] == second[0]  # the attribute, resolved at connect
    assert first[1] == first[2] != second[1] == second[2]  # fresh per event, shared within one
    assert first[0] != first[1]


async def test_app_value_is_shared_across_connections_and_closed_with_the_app(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    mvc_app = account_app()
    url = await serve_mvc(mvc_app)
    first = await (await clients(url)).connect("default")
    second = await (await clients(url)).connect("default")

    pools = {(await ns.ask("OnWho")).text.split()[3] for ns in (first, second)}
    await mvc_app.app.cleanup()

    assert len(pools) == 1
    assert RECORD.entries.count("pool opened") == RECORD.entries.count("pool closed") == 1


async def test_event_resources_close_in_reverse_order_when_the_event_ends(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    ns = await (await clients(await serve_mvc(account_app()))).connect("default")
    RECORD.clear()

    answer = (await ns.ask("OnSpend")).text.split()

    assert answer[0] == answer[1]  # the cursor's transaction is the event's transaction
    assert RECORD.entries == ["tx opened", "cursor opened", "spending", "cursor closed", "tx closed"]


async def test_event_resources_close_when_the_method_raises(serve_mvc: ServeMvc, clients: Dial) -> None:
    ns = await (await clients(await serve_mvc(account_app()))).connect("default")
    RECORD.clear()

    with pytest.raises(RemoteError, match=r"^insufficient funds$"):
        await ns.ask("OnSpend", "fail")
    assert RECORD.entries == ["tx opened", "cursor opened", "spending", "cursor closed", "tx closed"]


async def test_failing_event_dependency_is_an_error_reply_after_cleanup(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    ns = await (await clients(await serve_mvc(account_app()))).connect("default")
    RECORD.clear()

    with pytest.raises(RemoteError, match=r"^no cursor today$"):
        await ns.ask("OnSpend", "no cursor")
    assert RECORD.entries == ["tx opened", "tx closed"]


async def test_connection_resources_close_after_the_disconnect_hook(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    ns = await (await clients(await serve_mvc(account_app()) + "?user=ann")).connect("default")

    await ns.disconnect()

    assert RECORD.entries == ["user ann opened", "pool opened", "disconnect hook", "user ann closed"]


async def test_connection_resources_close_when_the_connection_drops(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    conn = await clients(await serve_mvc(account_app()) + "?user=ann")
    await conn.connect("default")

    await conn.close()

    await RECORD.wait_for("user ann closed")
    assert RECORD.entries[-2:] == ["disconnect hook", "user ann closed"]


async def test_failing_connection_dependency_refuses_the_connect_with_its_text(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    conn = await clients(await serve_mvc(account_app()) + "?user=mallory")

    with pytest.raises(RemoteError, match=r"^mallory is not welcome$"):
        await conn.connect("default")
    assert conn.namespace("default") is None


async def test_a_refused_connect_closes_what_was_already_opened(serve_mvc: ServeMvc, clients: Dial) -> None:
    class Refuses(Account):
        async def OnNamespaceConnect(self, msg: Message) -> None:
            raise PermissionError("maintenance")

    mvc_app = account_app()
    mvc_app.handle_websocket(Refuses).set_namespace("refusing")
    conn = await clients(await serve_mvc(mvc_app) + "?user=ann", {"refusing": {}})

    with pytest.raises(RemoteError, match=r"^maintenance$"):
        await conn.connect("refusing")
    assert RECORD.entries == ["user ann opened", "pool opened", "user ann closed"]


async def test_generator_that_never_yields_is_an_error_reply(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application(Application)
    mvc_app.register(never_yields)
    mvc_app.handle_websocket(Spender)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    with pytest.raises(RemoteError, match=r"^never_yields\(\) finished without yielding a value$"):
        await ns.ask("OnSpend")


@pytest.mark.parametrize(
    ("controller", "factory", "scope", "message"),
    [
        (
            EventScopedAttribute,
            audit,
            None,
            "EventScopedAttribute.audit -> audit(msg): a Message exists only within an event, "
            "not in the connection scope",
        ),
        (
            EventPinnedAttribute,
            transaction,
            Scope.EVENT,
            "EventPinnedAttribute.tx: transaction() is event-scoped and cannot be kept "
            "in a connection-scoped place",
        ),
        (
            ConnectionInApp,
            pool_from_request,
            Scope.APP,
            "ConnectionInApp.pool -> pool_from_request(request): a Request exists only within a connection, "
            "not in the app scope",
        ),
    ],
)
def test_scope_errors_are_raised_at_registration(
    controller: type[Controller], factory: Callable[..., object], scope: Scope | None, message: str
) -> None:
    mvc_app = mvc_application(Application)
    mvc_app.register(factory, scope=scope)

    with pytest.raises(ScopeMismatchError) as caught:
        mvc_app.handle_websocket(controller)

    assert str(caught.value) == message


async def test_failing_connection_dependency_rejects_neffos_js_connect_with_its_text(
    serve_mvc: ServeMvc,
) -> None:
    require_node()
    url = await serve_mvc(account_app())
    async with NodeDriver.start() as driver:
        client = await driver.dial(url + "?user=mallory", {"default": {}})

        with pytest.raises(CommandError) as caught:
            await client.connect("default")

    assert (caught.value.message, caught.value.error_type) == ("mallory is not welcome", "Error")
