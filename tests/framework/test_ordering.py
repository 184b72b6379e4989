"""The ordering rules, stepped frame by frame over memory sockets (no network, no timing).

A raw peer (`accept_memory`) sends and reads frames itself, so each test states exactly
which frame comes next: the answer before what its handler sent (docs/protocol.md#reply-order),
handlers one after the other even while one awaits its own ask (docs/protocol.md#handler-order),
the asker before the next frame (docs/protocol.md#asker-first), frames sent before ``M``
after the ack (docs/protocol.md#handshake-input), the backlog's byte budget (`BacklogFullError`)
and late replies (docs/protocol.md#late-replies).
"""

from __future__ import annotations

import pytest

from aioneffos.framework import (
    AskTimeoutError,
    BacklogFullError,
    MemorySocket,
    Message,
    NSConn,
    Reply,
    Server,
    accept_memory,
    dial_memory,
)
from support.waiting import Inbox


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


async def emit_then_reply(ns: NSConn, msg: Message) -> Reply:
    ns.emit("news", b"sent before the reply")
    return Reply(b"the reply")


async def broadcast_then_reply(ns: NSConn, msg: Message) -> Reply:
    ns.broadcast("news", b"sent before the reply")
    return Reply(b"the reply")


async def joined(server: Server, conn_id: str = "c1") -> MemorySocket:
    """A raw peer with id *conn_id*, acknowledged and connected to namespace ``default``."""
    peer = await accept_memory(server, headers={"X-Id": conn_id})
    await peer.send("M")
    assert await peer.receive() == f"A{conn_id}"
    await peer.send("$c;default;;_OnNamespaceConnect;0;0;")
    assert await peer.receive() == "$c;;;;;;"
    return peer


def make_server(events: dict[str, object], **options: object) -> Server:
    return Server({"default": events}, id_generator=lambda r: r.headers["X-Id"], **options)


async def test_the_answer_comes_before_what_its_handler_emitted() -> None:
    peer = await joined(make_server({"emit": emit_then_reply}))

    await peer.send("$1;default;;emit;0;0;")

    assert [await peer.receive(), await peer.receive()] == [
        "$1;default;;emit;0;0;the reply",
        ";default;;news;0;0;sent before the reply",
    ]


async def test_a_broadcast_by_the_handler_reaches_the_asker_after_its_answer() -> None:
    server = make_server({"bcast": broadcast_then_reply})
    asker, other = await joined(server, "a"), await joined(server, "b")

    await asker.send("$1;default;;bcast;0;0;")

    assert [await asker.receive(), await asker.receive()] == [
        "$1;default;;bcast;0;0;the reply",
        ";default;;news;0;0;sent before the reply",
    ]
    assert await other.receive() == ";default;;news;0;0;sent before the reply"


async def test_a_plain_emit_is_not_held() -> None:
    peer = await joined(make_server({"emit": emit_then_reply}))

    await peer.send(";default;;emit;0;0;")  # no token: nothing to answer first

    assert [await peer.receive(), await peer.receive()] == [
        ";default;;news;0;0;sent before the reply",
        ";default;;emit;0;0;the reply",
    ]


async def test_handlers_run_in_order_even_while_one_awaits_its_own_ask() -> None:
    trace = Inbox()

    async def ask_back(ns: NSConn, msg: Message) -> bytes:
        trace.put("ask_back asks")
        answer = await ns.ask("question")
        trace.put(f"ask_back got {answer.text}")
        return b"done"

    async def after(ns: NSConn, msg: Message) -> bytes:
        trace.put("after runs")
        return b"after"

    peer = await joined(make_server({"ask_back": ask_back, "after": after}))
    await peer.send("$1;default;;ask_back;0;0;")
    question = await peer.receive()
    assert isinstance(question, str)
    token = question.split(";", 1)[0]
    # Read while ask_back waits: "after" comes first, then the answer ask_back waits for.
    await peer.send("$2;default;;after;0;0;")
    await peer.send(f"{token};default;;question;0;0;yes")

    assert [await peer.receive(), await peer.receive()] == [
        "$1;default;;ask_back;0;0;done",
        "$2;default;;after;0;0;after",
    ]
    assert trace.entries == ["ask_back asks", "ask_back got yes", "after runs"]


async def test_the_asker_resumes_before_the_next_frame_is_handled() -> None:
    # The connect's answer and the server's first emit arrive together; the client registers
    # the namespace (its asker resumes) before it reads the emit, so the emit is not lost.
    async def on_connected(ns: NSConn, msg: Message) -> None:
        ns.emit("welcome", b"hello")

    server = Server({"default": {"_OnNamespaceConnected": on_connected}})
    welcomed = Inbox()
    conn = await dial_memory(server, {"default": {"welcome": welcomed.handler}})

    await conn.connect("default")

    assert (await welcomed.get()).body == b"hello"
    await conn.close()
    await server.close()


async def test_frames_sent_before_m_are_handled_after_the_ack_in_order() -> None:
    server = make_server({"echo": echo})
    peer = await accept_memory(server, headers={"X-Id": "c1"})

    await peer.send("$1;default;;_OnNamespaceConnect;0;0;")
    await peer.send("$2;default;;echo;0;0;early")
    await peer.send("M")

    assert [await peer.receive(), await peer.receive(), await peer.receive()] == [
        "Ac1",
        "$1;;;;;;",
        "$2;default;;echo;0;0;early",
    ]


async def test_past_the_byte_budget_the_waiting_ask_gives_up_and_every_message_is_handled() -> None:
    async def ask_back(ns: NSConn, msg: Message) -> str:
        try:
            await ns.ask("question")
        except BacklogFullError:
            return "gave up"
        return "answered"

    peer = await joined(make_server({"ask_back": ask_back, "echo": echo}, inbound_backlog_bytes=2000))
    await peer.send("$1;default;;ask_back;0;0;")
    await peer.receive()  # the server's question, never answered
    for i in range(4):  # about 760 bytes each, held while ask_back waits
        await peer.send(f"$e{i};default;;echo;0;0;{i}{'x' * 500}")

    assert await peer.receive() == "$1;default;;ask_back;0;0;gave up"
    replies = [await peer.receive() for _ in range(4)]
    assert [str(reply).split(";")[:5] for reply in replies] == [
        [f"$e{i}", "default", "", "echo", "0"] for i in range(4)
    ]


async def test_a_late_reply_to_a_server_ask_is_dropped() -> None:
    server = make_server({"echo": echo})
    peer = await joined(server)

    with pytest.raises(AskTimeoutError):
        await server.ask(Message("default", "question", to="c1"), timeout=0.01)
    question = await peer.receive()
    assert isinstance(question, str)
    await peer.send(f"{question.split(';', 1)[0]};default;;question;0;0;too late")
    await peer.send("$2;default;;echo;0;0;next")

    assert await peer.receive() == "$2;default;;echo;0;0;next"  # no error reply for the late one
