"""Nothing fails silently: handler bugs at ERROR with a traceback, refusals quiet, unknown events once."""

from __future__ import annotations

import logging

import pytest

from aioneffos.framework import (
    BadNamespaceError,
    Conn,
    ConnectionRefusedByPeerError,
    Message,
    NSConn,
    Refused,
    RemoteError,
    Server,
)
from aioneffos.framework.logs import UNKNOWN_EVENTS_REMEMBERED, WarnOnce
from support.serving import Dial, Serve
from support.waiting import Inbox


def bug(ns: NSConn, msg: Message) -> None:
    {"a": 1}["b"]  # a bug: KeyError('b')


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("aioneffos") and r.levelno == level]


async def test_handler_bug_is_logged_at_error_with_traceback_and_fields(
    serve: Serve, clients: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "aioneffos")
    conn = await clients(await serve(Server({"default": {"bug": bug}}, id_generator=lambda r: "c-1")))
    ns = await conn.connect("default")

    with pytest.raises(RemoteError) as caught:
        await ns.ask("bug")

    assert caught.value.text == "KeyError: 'b'"  # the type, since "'b'" alone says nothing
    [record] = records(caplog, logging.ERROR)
    assert (record.name, record.getMessage()) == (
        "aioneffos.handlers",
        "namespace 'default' event 'bug' on 'c-1': handler raised KeyError: 'b'",
    )
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError
    assert (record.conn_id, record.namespace, record.event) == ("c-1", "default", "bug")  # type: ignore[attr-defined]


async def test_handler_bug_in_a_plain_emit_is_logged_too(
    serve: Serve, clients: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    got = Inbox()
    conn = await clients(
        await serve(Server({"default": {"bug": bug}})), {"default": {"bug": lambda ns, msg: got.put(msg.err)}}
    )
    (await conn.connect("default")).emit("bug")
    assert await got.get() == "KeyError: 'b'"  # the error message the sender gets back
    assert [r.getMessage() for r in records(caplog, logging.ERROR)] == [
        f"namespace 'default' event 'bug' on {conn.id!r}: handler raised KeyError: 'b'"
    ]


@pytest.mark.parametrize(
    "refusal", [Refused("no entry"), PermissionError("no entry"), ValueError("no entry")], ids=type
)
async def test_documented_refusals_are_not_errors(
    serve: Serve, clients: Dial, caplog: pytest.LogCaptureFixture, refusal: Exception
) -> None:
    caplog.set_level(logging.DEBUG, "aioneffos")

    def refuse(ns: NSConn, msg: Message) -> None:
        raise refusal

    conn = await clients(await serve(Server({"default": {"refuse": refuse}})))
    with pytest.raises(RemoteError, match=r"^no entry$"):
        await (await conn.connect("default")).ask("refuse")

    assert records(caplog, logging.ERROR) == []
    [debug] = [r for r in records(caplog, logging.DEBUG) if r.name == "aioneffos.handlers"]
    assert debug.getMessage() == f"namespace 'default' event 'refuse' on {conn.id!r}: refused: no entry"


async def test_bug_in_a_room_join_hook_is_logged_and_refuses_the_join(
    serve: Serve, clients: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await clients(await serve(Server({"default": {"_OnRoomJoin": bug}})))
    with pytest.raises(RemoteError, match=r"^KeyError: 'b'$"):
        await (await conn.connect("default")).join_room("r")
    [record] = records(caplog, logging.ERROR)
    assert (record.event, record.room) == ("_OnRoomJoin", "r")  # type: ignore[attr-defined]


async def test_bug_in_a_namespace_connect_hook_is_logged(
    serve: Serve, clients: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await clients(await serve(Server({"default": {"_OnNamespaceConnect": bug}})))
    with pytest.raises(RemoteError, match=r"^KeyError: 'b'$"):
        await conn.connect("default")
    [record] = records(caplog, logging.ERROR)
    assert record.event == "_OnNamespaceConnect"  # type: ignore[attr-defined]


async def test_bug_in_on_connect_is_logged_and_refusal_is_info(
    serve: Serve, clients: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "aioneffos")

    def on_connect(conn: Conn) -> None:
        if conn.id == "mallory":
            raise PermissionError("not you")
        bug(None, None)  # type: ignore[arg-type]

    url = await serve(
        Server({"default": {}}, on_connect=on_connect, id_generator=lambda r: r.headers["X-Name"])
    )
    with pytest.raises(ConnectionRefusedByPeerError, match=r"^not you$"):
        await clients(url, headers={"X-Name": "mallory"})
    with pytest.raises(ConnectionRefusedByPeerError, match=r"^KeyError: 'b'$"):
        await clients(url, headers={"X-Name": "bob"})

    logged = [r for r in caplog.records if r.name == "aioneffos.server"]
    assert [(r.levelname, r.getMessage(), r.conn_id) for r in logged] == [  # type: ignore[attr-defined]
        ("INFO", "refused <Conn 'mallory' server namespaces=[]>: not you", "mallory"),
        ("ERROR", "on_connect raised for <Conn 'bob' server namespaces=[]>: KeyError: 'b'", "bob"),
    ]
    assert logged[1].exc_info is not None


async def test_unknown_event_is_warned_once_per_namespace_and_event(
    serve: Serve, clients: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    got = Inbox()
    server = Server({"default": {"OnChat": lambda ns, msg: got.put(msg.text)}})
    ns = await (await clients(await serve(server))).connect("default")
    for _ in range(3):
        ns.emit("chat", "a typo")  # meant OnChat
    ns.emit("Chat", "another typo")
    ns.emit("OnChat", "marker")  # handled after the three
    assert await got.get() == "marker"

    warnings = records(caplog, logging.WARNING)
    assert [r.getMessage() for r in warnings] == [
        f"namespace 'default' has no handler for event 'chat' (first received on {ns.conn.id!r}):"
        " dropped, or answered 'unknown event' when asked",
        f"namespace 'default' has no handler for event 'Chat' (first received on {ns.conn.id!r}):"
        " dropped, or answered 'unknown event' when asked",
    ]
    assert [(r.name, r.namespace, r.event) for r in warnings] == [  # type: ignore[attr-defined]
        ("aioneffos.handlers", "default", "chat"),
        ("aioneffos.handlers", "default", "Chat"),
    ]


async def test_unknown_event_warnings_are_bounded_against_a_flood_of_names(
    serve: Serve, clients: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    got = Inbox()
    server = Server({"default": {"done": lambda ns, msg: got.put(msg.text)}})
    ns = await (await clients(await serve(server))).connect("default")
    for i in range(3 * UNKNOWN_EVENTS_REMEMBERED):
        ns.emit(f"junk-{i}")
    ns.emit("done", "marker")
    assert await got.get() == "marker"

    warnings = [r.getMessage() for r in records(caplog, logging.WARNING)]
    assert len(warnings) == UNKNOWN_EVENTS_REMEMBERED + 1
    assert warnings[-1] == (
        f"namespace 'default': more than {UNKNOWN_EVENTS_REMEMBERED} unknown event names;"
        " no more are reported"
    )


def test_warn_once_memory_stays_bounded() -> None:
    memory = WarnOnce(10)
    outcomes = [memory.note(f"e{i}") for i in range(100_000)]
    assert (outcomes.count("new"), outcomes.count("full"), len(memory._seen)) == (10, 1, 10)
    assert (memory.note("e3"), memory.note("e99999")) == ("seen", "seen")


async def test_bad_namespace_on_the_client_names_the_namespace_and_the_side(
    serve: Serve, clients: Dial
) -> None:
    conn = await clients(await serve(Server({"default": {}})), {"default": {}, "extra": {}})
    with pytest.raises(BadNamespaceError) as undeclared:
        await conn.connect("nope")
    with pytest.raises(BadNamespaceError) as missing:
        await conn.connect("extra")
    assert (
        str(undeclared.value)
        == "namespace 'nope' is not declared on this client (declare it in dial's namespaces)"
    )
    assert str(missing.value) == "the server has no namespace 'extra' (it answered 'bad namespace')"
    assert (undeclared.value.namespace, missing.value.namespace) == ("nope", "extra")


async def test_the_library_installs_no_log_handlers(serve: Serve, clients: Dial) -> None:
    conn = await clients(await serve(Server({"default": {"bug": bug}})))
    with pytest.raises(RemoteError):
        await (await conn.connect("default")).ask("bug")
    names = ["aioneffos", *(n for n in logging.root.manager.loggerDict if n.startswith("aioneffos."))]
    assert [n for n in names if logging.getLogger(n).handlers] == []
