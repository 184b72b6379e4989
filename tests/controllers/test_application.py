"""BaseApplication: the prefixed router, the injector seam without DI, configure, the ConnHandler protocol."""

from __future__ import annotations

import importlib
import itertools
from typing import Any

import pytest
from aiohttp import web

from aioneffos.controllers import (
    BaseApplication,
    Controller,
    Dependency,
    InjectionContext,
    MissingDependencyError,
    Resolver,
    Scope,
)
from aioneffos.framework import ConnHandler, Message
from support.serving import Dial, ServeMvc
from tests.controllers.harness import mvc_application


class Greeting(str):
    """A type only the fake injector below provides."""


class Serial(int):
    """A per-event value of the fake injector below."""


class Greeter(Controller):
    namespace = "default"
    greeting: Greeting

    async def OnGreet(self, msg: Message, serial: Serial) -> str:
        return f"{self.greeting} #{serial}"


class FakeInjector:
    """A hand-written `Injector`: proves the seam needs no DI library."""

    def __init__(self, greeting: str) -> None:
        self.greeting = greeting
        self.sites: list[tuple[str, Scope]] = []
        self.serials = itertools.count(1)

    def register(self, *dependencies: object, provides: Any = None, scope: Scope | None = None) -> None:
        raise NotImplementedError

    def is_marker(self, value: object) -> bool:
        return False

    def resolver(self, dependency: Dependency) -> Resolver:
        self.sites.append((dependency.site, dependency.scope))
        if dependency.annotation is Greeting:
            return lambda ctx: Greeting(self.greeting)
        if dependency.annotation is Serial:
            return self._serial
        raise MissingDependencyError(dependency.site, dependency.annotation, "fake: unknown")

    async def _serial(self, ctx: InjectionContext) -> Serial:
        return Serial(next(self.serials))


@pytest.mark.parametrize(
    ("prefix", "path", "url"),
    [
        ("/websocket_endpoint", "/", "/websocket_endpoint"),
        ("/websocket_endpoint/", "/admin", "/websocket_endpoint/admin"),
        ("", "/", "/"),
        ("/", "/x", "/x"),
    ],
)
def test_router_puts_routes_under_the_prefix(prefix: str, path: str, url: str) -> None:
    assert BaseApplication(web.Application(), prefix).router.url(path) == url


def test_router_refuses_relative_paths_and_prefixes() -> None:
    with pytest.raises(ValueError, match=r"^a prefix starts with '/', got 'ws'$"):
        BaseApplication(web.Application(), "ws")
    with pytest.raises(ValueError, match=r"^route paths start with '/', got 'x'$"):
        BaseApplication(web.Application(), "/ws").router.url("x")


def test_router_adds_routes_to_the_aiohttp_app() -> None:
    mvc_app = mvc_application(prefix="/api")

    async def ok(request: web.Request) -> web.Response:
        return web.Response()

    mvc_app.router.add_post("/items", ok)
    mvc_app.router.add_get("/", ok)

    routes = sorted((r.method, r.resource.canonical) for r in mvc_app.app.router.routes() if r.resource)
    assert routes == [("GET", "/api"), ("HEAD", "/api"), ("POST", "/api/items")]


def test_application_is_a_conn_handler() -> None:
    assert isinstance(mvc_application(), ConnHandler)


def test_application_without_container_refuses_register_with_a_hint() -> None:
    with pytest.raises(
        TypeError, match=r"^this application has no dependency container: use aioneffos.mvc.Application"
    ):
        mvc_application().register(object())


def test_application_configure_calls_each_configurator() -> None:
    seen: list[BaseApplication] = []
    mvc_app = mvc_application()

    assert mvc_app.configure(seen.append, seen.append) is mvc_app
    assert seen == [mvc_app, mvc_app]


async def test_custom_injector_fills_attributes_per_connection_and_parameters_per_event(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    injector = FakeInjector("hello")
    mvc_app = mvc_application(injector=injector)
    mvc_app.handle_websocket(Greeter)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    answers = [(await ns.ask("OnGreet")).text for _ in range(2)]

    assert answers == ["hello #1", "hello #2"]
    assert injector.sites == [
        ("Greeter.greeting", Scope.CONNECTION),
        ("Greeter.OnGreet(serial)", Scope.EVENT),
    ]


async def test_set_injector_replaces_the_application_injector(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application(injector=FakeInjector("from app"))
    mvc_app.handle_websocket(Greeter).set_injector(FakeInjector("from handle"))
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    assert (await ns.ask("OnGreet")).text == "from handle #1"


def test_set_injector_that_cannot_resolve_raises_and_keeps_the_previous_one() -> None:
    handle = mvc_application(injector=FakeInjector("kept")).handle_websocket(Greeter)

    class Empty(FakeInjector):
        def resolver(self, dependency: Dependency) -> Resolver:
            raise MissingDependencyError(dependency.site, dependency.annotation, "nothing here")

    with pytest.raises(MissingDependencyError, match=r"^Greeter.greeting: nothing here$"):
        handle.set_injector(Empty("x"))
    assert sorted(handle.events) == ["OnGreet", "_OnNamespaceConnect"]


def test_one_application_is_the_one_users_import_and_it_registers() -> None:
    import aioneffos.controllers
    import aioneffos.di
    import aioneffos.mvc

    mvc_app = aioneffos.mvc.Application(web.Application(), "/ws")
    mvc_app.register(Greeting("hello"))

    assert aioneffos.mvc.Application is aioneffos.di.Application
    assert isinstance(mvc_app, BaseApplication)
    assert not hasattr(aioneffos.controllers, "Application")  # the layer's class is the base


@pytest.mark.parametrize("module", ["aioneffos.controllers", "aioneffos.di", "aioneffos.mvc"])
def test_public_names_are_all_exported(module: str) -> None:
    imported = importlib.import_module(module)

    assert sorted(imported.__all__) == sorted(
        name for name in vars(imported) if not name.startswith("_") and name not in SUBMODULES[module]
    )


SUBMODULES = {
    "aioneffos.controllers": {
        "application",
        "asyncapi",
        "asyncapi_writer",
        "bodies",
        "compiler",
        "contract",
        "controller",
        "errors",
        "handle",
        "injection",
        "join",
        "matchers",
        "reflection",
        "runtime",
        "typing",
        "yaml_writer",
    },
    "aioneffos.di": {"application", "registrations", "registry", "resolvers"},
    "aioneffos.mvc": set(),
}
