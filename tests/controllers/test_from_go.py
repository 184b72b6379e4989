"""What a port of a neffos struct handler relies on: matchers chosen after (or at) registration,
neffos's every-method default, handles without an aiohttp app (server and client side) and
``str(controller)`` as the connection id. Real server over loopback and the Python client."""

from __future__ import annotations

import asyncio
import importlib.util
import re

import pytest
from aiohttp import web

from aioneffos import controllers, framework, mvc
from aioneffos.controllers import (
    BaseApplication,
    Controller,
    ControllerHandle,
    InvalidControllerError,
    InvalidEventMethodError,
    event_all_matcher,
    event_exact_matcher,
    event_trim_prefix_matcher,
    handle_websocket,
)
from aioneffos.framework import Conn, Message, NSConn, Room, Server, dial, scaleout
from support import readme
from support.serving import Dial, Serve, ServeMvc
from support.waiting import TIMEOUT
from tests.controllers.harness import mvc_application


class ServerConn(Controller):
    """neffos's struct-handler server: ``OnChat`` answers event ``Chat`` with a static suffix."""

    suffix_response = ""

    def namespace(self) -> str:  # type: ignore[override]
        return "default"

    async def OnChat(self, msg: Message) -> None:
        self.emit("ChatResponse", msg.body + self.suffix_response.encode())


class ClientConn(Controller):
    """neffos's struct-handler client: a method that is not ``On*`` answers ``ChatResponse``."""

    heard: asyncio.Queue[str]

    async def ChatResponse(self, msg: Message) -> None:  # noqa: N802 - neffos's name
        self.heard.put_nowait(f"[{self}] {msg.text}")


def test_controller_without_on_methods_registers_once_a_matcher_is_set() -> None:
    mvc_app = mvc_application()
    handle = mvc_app.handle_websocket(ClientConn(heard=asyncio.Queue())).set_event_matcher(
        event_all_matcher()
    )

    assert set(handle.events) == {"ChatResponse", "_OnNamespaceConnect"}
    Server(mvc_app)  # complete: no error


def test_controller_without_on_methods_and_no_matcher_says_how_to_pick_methods() -> None:
    handle = handle_websocket(ClientConn(heard=asyncio.Queue()))

    with pytest.raises(InvalidControllerError, match=r"set_event_matcher.*event_all_matcher\(\)"):
        Server(handle)


class Mixed(Controller):
    namespace = "default"

    def OnlyHelper(self) -> int:  # an On* name that is no event: the default matcher would refuse it
        return 1

    async def Chat(self, msg: Message) -> str:  # noqa: N802 - an event name
        return msg.text.upper()


def test_handle_websocket_takes_the_matcher_before_compiling() -> None:
    with pytest.raises(InvalidEventMethodError, match=r"^Mixed.OnlyHelper: "):
        mvc_application().handle_websocket(Mixed)

    handle = mvc_application().handle_websocket(Mixed, event_matcher=event_exact_matcher(["Chat"]))
    assert "Chat" in handle.events


async def test_handle_websocket_matcher_keyword_serves_the_events(serve_mvc: ServeMvc, clients: Dial) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Mixed, event_matcher=event_exact_matcher(["Chat"]))
    client = await clients(await serve_mvc(mvc_app))
    ns = await client.connect("default")

    assert (await ns.ask("Chat", "hi")).text == "HI"


async def test_struct_handler_without_an_aiohttp_app_on_server_and_client(serve: Serve) -> None:
    # neffos _examples/struct-handler, both sides: NewStruct(...).SetEventMatcher(...) on the
    # server, NewStruct(new(clientConn)).SetNamespace("default") on the client.
    events = handle_websocket(ServerConn(suffix_response="!suffix")).set_event_matcher(
        event_trim_prefix_matcher("On")
    )
    url = await serve(Server(events, id_generator=lambda request: "ann"))
    heard: asyncio.Queue[str] = asyncio.Queue()
    client_events = handle_websocket(
        ClientConn(heard=heard), event_matcher=event_all_matcher()
    ).set_namespace("default")
    client = await dial(url, client_events)
    try:
        ns = await client.connect("default")
        ns.emit("Chat", "Hello from client!")
        async with asyncio.timeout(TIMEOUT):
            assert await heard.get() == "[ann] Hello from client!!suffix"
    finally:
        await client.close()


async def test_client_side_controller_made_when_the_server_connects_it(serve: Serve) -> None:
    async def on_connect(conn: Conn) -> None:
        ns = await conn.connect("default")
        ns.emit("ChatResponse", "welcome")

    url = await serve(Server({"default": {}}, on_connect=on_connect))
    heard: asyncio.Queue[str] = asyncio.Queue()
    handle = handle_websocket(ClientConn(heard=heard), event_matcher=event_all_matcher()).set_namespace(
        "default"
    )
    client = await dial(url, handle)
    try:
        ns = await client.wait_connect("default", timeout=TIMEOUT)
        async with asyncio.timeout(TIMEOUT):
            assert await heard.get() == f"[{client.id}] welcome"
        assert isinstance(ns, NSConn)
    finally:
        await client.close()


class NoServerHere(Controller):
    """A client-side controller reaching for what only a server has."""

    heard: asyncio.Queue[str]

    async def Look(self, msg: Message) -> None:  # noqa: N802 - an event name
        for name in ("server", "request"):
            try:
                getattr(self, name)
            except TypeError as exc:
                self.heard.put_nowait(f"{name}: {exc}")

    async def Probe(self, msg: Message, server: Server) -> None:  # noqa: N802 - an event name
        self.heard.put_nowait(f"injected {server!r}")


async def test_client_side_controller_has_no_server_and_says_so_with_type_error(serve: Serve) -> None:
    # One behaviour for "no server here": self.server, self.request and an injected Server
    # raise TypeError on a client, as get_server and get_request do.
    answers: asyncio.Queue[str] = asyncio.Queue()

    async def on_connect(conn: Conn) -> None:
        ns = await conn.connect("default")
        ns.emit("Look")
        try:
            await ns.ask("Probe", timeout=TIMEOUT)
        except Exception as exc:
            answers.put_nowait(str(exc))

    url = await serve(Server({"default": {}}, on_connect=on_connect))
    heard: asyncio.Queue[str] = asyncio.Queue()
    handle = handle_websocket(NoServerHere(heard=heard), event_matcher=event_all_matcher()).set_namespace(
        "default"
    )
    client = await dial(url, handle)
    try:
        async with asyncio.timeout(TIMEOUT):
            looked = [await heard.get(), await heard.get()]
            probed = await answers.get()
        conn = re.escape(f"<Conn {client.id!r} client")
        assert re.fullmatch(f"server: {conn} .*> has no server: it is a client-side connection", looked[0])
        assert re.fullmatch(
            f"request: {conn} .*> has no upgrade request: it is not a server-side connection", looked[1]
        )
        assert re.fullmatch(f"{conn} .*> has no server: it is a client-side connection", probed)
        assert heard.empty()
    finally:
        await client.close()


async def test_set_timeouts_read_deadline_is_the_servers_read_timeout(serve: Serve, clients: Dial) -> None:
    # neffos: NewStruct(c).SetTimeouts(20*time.Second, ...) is the read deadline of every connection.
    events = handle_websocket(ServerConn).set_event_matcher(event_trim_prefix_matcher("On"))
    client = await clients(await serve(Server(events, read_timeout=0.2)))
    await client.connect("default")

    async with asyncio.timeout(TIMEOUT):
        await client.wait_closed()  # idle: nothing read for 0.2 s
    assert client.close_code == 1008


def test_str_of_a_template_controller_is_its_repr() -> None:
    template = ServerConn(suffix_response="x")
    assert str(template) == repr(template) == "<ServerConn (template)>"


# -- the Coming from Go tables (docs/migration.md) name only what exists ---------------------------------


def receivers() -> dict[str, object]:
    """What each receiver name of the tables stands for: a class, or an instance for instance attributes."""
    return {
        "conn": Conn,
        "ns": NSConn,
        "room": Room,
        "server": Server,
        "msg": Message,
        "handle": ControllerHandle,
        "mvc_app": mvc_application(BaseApplication),
        "self": Controller,
        "request": web.Request,
    }


EXAMPLE_NAMES = {"str", "id_gen", "on_chat", "ServerConn", "PrefixedLogger", "WebsocketController", "C"}
"""Callables in the table that belong to the reader's program or to Python, not to aioneffos."""


def python_column() -> list[str]:
    """Give the code spans of the Python column of every table in the Coming from Go section."""
    rows = re.findall(r"^\| .+? \| (.+) \|$", readme.text("docs/migration.md"), re.MULTILINE)
    return [span for row in rows for span in re.findall(r"`([^`]+)`", row)]


def test_readme_go_tables_name_only_attributes_that_exist() -> None:
    spans = python_column()
    used = {(receiver, name) for span in spans for receiver, name in re.findall(r"\b([a-z_]+)\.(\w+)", span)}
    known = receivers()
    checked = {(receiver, name) for receiver, name in used if receiver in known}

    missing = [
        f"{receiver}.{name}"
        for receiver, name in sorted(checked)
        if not hasattr(known[receiver], name) and name not in _annotations(known[receiver])
    ]
    assert missing == []
    assert len(checked) > 60  # the tables really were read


def test_readme_go_tables_call_only_names_aioneffos_exports() -> None:
    exported = set(framework.__all__) | set(controllers.__all__) | set(mvc.__all__) | set(scaleout.__all__)
    calls = [span for span in python_column() if not re.match(r"(async )?def ", span)]  # definitions
    called = {name for span in calls for name in re.findall(r"(?<![\w.])([A-Za-z_]\w*)\(", span)}

    assert called - exported - EXAMPLE_NAMES == set()
    assert {"get_server", "handle_websocket", "event_all_matcher", "dial"} <= called


def test_readme_go_tables_name_only_modules_that_exist() -> None:
    modules = {name for span in python_column() for name in re.findall(r"\baioneffos(?:\.\w+)+", span)}

    assert {name for name in modules if importlib.util.find_spec(name) is None} == set()
    assert "aioneffos.framework.scaleout" in modules


def _annotations(target: object) -> set[str]:
    cls = target if isinstance(target, type) else type(target)
    names: set[str] = set()
    for klass in cls.__mro__:
        names |= set(getattr(klass, "__annotations__", {}))
    return names
