"""Late answers to a timed-out ask are dropped; an error message is never answered (no ping-pong)."""

from __future__ import annotations

import pytest

from aioneffos.framework import AskTimeoutError, Message, NSConn, Server
from support.waiting import Inbox


def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


async def test_late_answer_to_a_timed_out_server_ask_is_dropped(serve, raw) -> None:
    server = Server({"default": {"echo": echo}}, id_generator=lambda request: "c1")
    peer = await raw(await serve(server))
    await peer.connect("default")
    with pytest.raises(AskTimeoutError):
        await server.ask(Message("default", "question", to="c1"), timeout=0.1)
    token = str(await peer.recv()).split(";", 1)[0]

    await peer.send(f"{token};default;;question;0;0;late answer")  # dropped: the server made it
    await peer.send(f"{token};default;;question;1;0;late error")  # dropped too
    after = await peer.ask("default", "echo", "next")  # the very next frame answers this

    assert after == f"{peer.token_last()};default;;echo;0;0;next"


async def test_error_message_with_a_foreign_token_is_never_answered_by_the_server(serve, raw) -> None:
    server = Server({"default": {"echo": echo}})
    peer = await raw(await serve(server))
    await peer.connect("default")

    await peer.send("$x9;default;;echo;1;0;an error, not an ask")  # must get no answer at all
    after = await peer.ask("default", "echo", "next")

    assert after == f"{peer.token_last()};default;;echo;0;0;next"


async def test_client_handler_sees_a_late_error_but_does_not_answer_it(serve, clients) -> None:
    calls = Inbox()

    def answer(ns: NSConn, msg: Message) -> str:
        calls.put(msg)
        return "answer"

    server = Server({"default": {"echo": echo}}, id_generator=lambda request: "c1")
    client = await clients(await serve(server), {"default": {"question": answer}})
    ns = await client.connect("default")
    server_ns = server.namespace_connections("default")
    assert len(server_ns) == 1
    (conn_ns,) = server_ns

    # The client's answer arrives after the ask gave up, so the server answers "unknown event".
    conn_ns.conn.write(Message("default", "question", b"?", wait="late-1"))
    first = await calls.get()
    second = await calls.get()
    echoed = await ns.ask("echo", "after")  # had the client answered the error, it would come first

    assert (first.body, first.err) == (b"?", None)
    assert (second.err, second.wait) == ("unknown event 'question'", "late-1")
    assert echoed.body == b"after"
    assert calls.empty()
