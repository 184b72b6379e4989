"""join_conn_handlers and several controllers per application or per namespace."""

from __future__ import annotations

import pytest

from aioneffos.controllers import ConflictingEventError, Controller, join_conn_handlers
from aioneffos.framework import Conn, Message, NSConn, RemoteError, Server
from support.serving import Dial, ServeMvc
from support.waiting import Inbox
from tests.controllers.harness import mvc_application

RECORD = Inbox()


class Chat(Controller):
    namespace = "default"

    async def OnNamespaceConnected(self, msg: Message) -> None:
        RECORD(("chat connected", id(self)))
        self.ns_conn.defer(lambda: RECORD("chat cleanup"))

    async def OnChat(self, msg: Message) -> str:
        return f"chat {id(self)}"


class Presence(Controller):
    namespace = "default"

    async def OnNamespaceConnected(self, msg: Message) -> None:
        RECORD(("presence connected", id(self)))

    async def OnWho(self, msg: Message) -> str:
        return f"presence {id(self)}"


class Gatekeeper(Controller):
    namespace = "default"

    async def OnNamespaceConnect(self, msg: Message) -> None:
        raise PermissionError("closed for today")

    async def OnGate(self, msg: Message) -> None: ...


class Tracked(Controller):
    namespace = "default"

    async def OnNamespaceConnect(self, msg: Message) -> None:
        self.ns_conn.defer(lambda: RECORD("tracked cleanup"))

    async def OnTrack(self, msg: Message) -> None: ...


class AlsoChat(Controller):
    namespace = "default"

    async def OnChat(self, msg: Message) -> None: ...


class Admin(Controller):
    namespace = "admin"

    async def OnKick(self, msg: Message) -> str:
        return "kicked"


@pytest.fixture(autouse=True)
def _fresh_record() -> None:
    RECORD.clear()


async def plain_ping(ns: NSConn, msg: Message) -> str:
    return "pong"


def test_join_merges_namespaces_of_every_handler() -> None:
    first, second = mvc_application(), mvc_application()
    first.handle_websocket(Chat)
    second.handle_websocket(Admin)

    joined = join_conn_handlers(first, second, {"default": {"ping": plain_ping}})

    assert {ns: sorted(events) for ns, events in joined.items()} == {
        "admin": ["OnKick", "_OnNamespaceConnect"],
        "default": ["OnChat", "_OnNamespaceConnect", "_OnNamespaceConnected", "ping"],
    }


def test_join_raises_on_a_clashing_event() -> None:
    first, second = mvc_application(), mvc_application()
    first.handle_websocket(Chat)
    second.handle_websocket(AlsoChat)

    with pytest.raises(ConflictingEventError, match=r"^namespace 'default': event 'OnChat' is handled twice"):
        join_conn_handlers(first, second)


def test_application_with_two_controllers_on_one_event_raises() -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Chat)
    mvc_app.handle_websocket(AlsoChat)

    with pytest.raises(ConflictingEventError):
        Server(mvc_app)


async def test_join_serves_two_applications_on_one_server(serve: ServeMvc, clients: Dial) -> None:
    first, second = mvc_application(), mvc_application()
    first.handle_websocket(Chat)
    second.handle_websocket(Admin)
    conn = await clients(await serve(Server(join_conn_handlers(first, second))), {"default": {}, "admin": {}})

    admin = await conn.connect("admin")

    assert (await admin.ask("OnKick")).text == "kicked"


async def test_two_controllers_share_a_namespace_with_their_own_instances(
    serve_mvc: ServeMvc, clients: Dial
) -> None:
    mvc_app = mvc_application()
    mvc_app.handle_websocket(Chat)
    mvc_app.handle_websocket(Presence)
    ns = await (await clients(await serve_mvc(mvc_app))).connect("default")

    chat, presence = (await ns.ask("OnChat")).text, (await ns.ask("OnWho")).text

    chat_id, presence_id = int(chat.split()[1]), int(presence.split()[1])
    assert RECORD.entries == [("chat connected", chat_id), ("presence connected", presence_id)]
    assert chat_id != presence_id


async def test_a_later_controller_refusing_the_connect_runs_earlier_cleanups(
    serve: ServeMvc, clients: Dial
) -> None:
    first, second = mvc_application(), mvc_application()
    first.handle_websocket(Tracked)
    second.handle_websocket(Gatekeeper)
    conn = await clients(await serve(Server(join_conn_handlers(first, second))))

    with pytest.raises(RemoteError, match=r"^closed for today$"):
        await conn.connect("default")
    assert RECORD.entries == ["tracked cleanup"]


async def test_a_refused_server_initiated_connect_runs_earlier_cleanups(
    serve: ServeMvc, clients: Dial
) -> None:
    first, second = mvc_application(), mvc_application()
    first.handle_websocket(Tracked)
    second.handle_websocket(Gatekeeper)

    async def on_connect(conn: Conn) -> None:
        try:
            await conn.connect("default")
        except PermissionError as exc:
            RECORD(f"refused: {exc}")

    await clients(await serve(Server(join_conn_handlers(first, second), on_connect=on_connect)))

    await RECORD.wait_for("refused: closed for today")
    assert RECORD.entries == ["tracked cleanup", "refused: closed for today"]
