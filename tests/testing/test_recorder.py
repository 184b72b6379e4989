"""`aioneffos.testing.Recorder`: what a client receives, awaited without sleeps or queues."""

from __future__ import annotations

import asyncio

import pytest

from aioneffos.framework import Message, NSConn, Server, dial
from aioneffos.testing import NotReceivedError, Recorder, connect
from support.serving import Serve


async def chatter(ns: NSConn, msg: Message) -> None:
    """Send back one message per word: ``say`` with the word, ``error`` for a word in capitals."""
    for word in msg.text.split():
        if word.isupper():
            ns.conn.write(Message(ns.namespace, "say", err=f"no shouting: {word}"))
        else:
            ns.emit("say", word, room=msg.room) if msg.room else ns.emit("say", word)
    ns.emit("done", str(len(msg.text.split())))


async def test_next_gives_each_event_in_order_and_leaves_the_others_for_their_turn() -> None:
    server = Server({"default": {"chat": chatter}})
    rec = Recorder()

    async with connect(server, rec) as conn:
        (await conn.connect("default")).emit("chat", "one two")
        done = await rec.next("done")  # arrives last; the two "say" stay for their own next()
        says = [(await rec.next("say")).text, (await rec.next("say")).text]

    assert (done.text, says) == ("2", ["one", "two"])
    assert [m.event for m in rec.all()] == ["say", "say", "done"]
    await server.close()


async def test_all_gives_everything_received_by_event_and_namespace_without_waiting() -> None:
    server = Server({"a": {"chat": chatter}, "b": {"chat": chatter}})
    rec = Recorder()

    async with connect(server, rec) as conn:
        (await conn.connect("a")).emit("chat", "x")
        (await conn.connect("b")).emit("chat", "y z")
        await rec.next("done", namespace="a")
        await rec.next("done", namespace="b")

    assert [m.text for m in rec.all("say")] == ["x", "y", "z"]
    assert [m.text for m in rec.all("say", namespace="b")] == ["y", "z"]
    assert rec.all("nothing") == []
    await server.close()


async def test_error_messages_are_recorded_with_their_event() -> None:
    server = Server({"default": {"chat": chatter}})
    rec = Recorder()

    async with connect(server, rec) as conn:
        (await conn.connect("default")).emit("chat", "LOUD")
        refused = await rec.next("say")

    assert (refused.is_error, refused.err) == (True, "no shouting: LOUD")
    await server.close()


async def test_waiters_of_several_events_are_all_woken() -> None:
    server = Server({"default": {"chat": chatter}})
    rec = Recorder()

    async with connect(server, rec) as conn:
        ns = await conn.connect("default")
        waiting = asyncio.gather(rec.next("done"), rec.next("say"))
        ns.emit("chat", "hello")
        done, say = await waiting

    assert (done.text, say.text) == ("1", "hello")
    await server.close()


async def test_the_recorder_keeps_what_the_server_does_to_the_client_and_not_its_own_steps() -> None:
    async def kick(ns: NSConn, msg: Message) -> None:
        await ns.disconnect()

    server = Server({"default": {"kick": kick}})
    rec = Recorder()

    async with connect(server, rec) as conn:
        ns = await conn.connect("default")
        await ns.join_room("lobby")
        ns.emit("kick")
        forced = await rec.next("_OnNamespaceDisconnect")

    assert (forced.namespace, forced.is_local) == ("default", False)
    # Not its own connect and join: what the server's disconnect did, the room's leave included.
    assert [(m.event, m.room) for m in rec.all()] == [
        ("_OnRoomLeave", "lobby"),
        ("_OnRoomLeft", "lobby"),
        ("_OnNamespaceDisconnect", ""),
    ]
    await server.close()


async def test_given_handlers_still_run_and_answer_the_server_asks() -> None:
    answers: asyncio.Queue[str] = asyncio.Queue()

    async def on_connected(ns: NSConn, msg: Message) -> None:
        answers.put_nowait((await ns.ask("question", "tea?")).text)
        answers.put_nowait(repr((await ns.ask("unhandled", "?")).body))

    server = Server({"default": {"_OnNamespaceConnected": on_connected}})
    rec = Recorder({"default": {"question": lambda ns, msg: f"yes, {msg.text}"}})

    async with connect(server, rec) as conn:
        await conn.connect("default")
        asked = await rec.next("question")
        async with asyncio.timeout(5):
            replies = [await answers.get(), await answers.get()]

    assert (asked.text, asked.wait != "") == ("tea?", True)
    assert replies == ["yes, tea?", "b''"]  # an ask without a handler gets the empty reply
    await server.close()


async def test_a_named_recorder_dials_a_real_socket(serve: Serve) -> None:
    server = Server({"default": {"chat": chatter}})
    url = await serve(server)
    rec = Recorder(["default"])

    conn = await dial(url, rec)
    try:
        (await conn.connect("default")).emit("chat", "over the wire")
        done = await rec.next("done")
    finally:
        await conn.close()

    assert (done.text, [m.text for m in rec.all("say")]) == ("3", ["over", "the", "wire"])


def test_a_recorder_without_namespaces_cannot_dial_on_its_own() -> None:
    with pytest.raises(TypeError, match=r"to dial a URL, name them: Recorder\(\['chat'\]\)"):
        Recorder().get_namespaces()
    with pytest.raises(TypeError, match=r"as a list: Recorder\(\['chat'\]\)"):
        Recorder("chat")


async def test_next_names_the_event_and_lists_what_came_instead() -> None:
    server = Server({"default": {"chat": chatter}})
    rec = Recorder()

    async with connect(server, rec) as conn:
        ns = await conn.connect("default")
        await ns.join_room("lobby")
        ns.emit("chat", "hello BIG", room="lobby")
        await rec.next("done")
        with pytest.raises(NotReceivedError) as missing:
            await rec.next("welcome", timeout=0.05)

    assert str(missing.value) == (
        "no 'welcome' message within 0.05 s; received instead, oldest first (1 taken earlier by next()):\n"
        "  'say' on 'default#lobby': 'hello'\n"
        "  'say' on 'default': error 'no shouting: BIG'"
    )
    assert isinstance(missing.value, TimeoutError)
    await server.close()


async def test_next_says_when_nothing_else_came_either() -> None:
    rec = Recorder(["default"])

    with pytest.raises(
        NotReceivedError,
        match=r"^no 'welcome' message in namespace 'default' within 0.01 s; nothing else was received$",
    ):
        await rec.next("welcome", namespace="default", timeout=0.01)
