"""The answer to a peer's ask is the next frame that peer reads (docs/protocol.md#reply-order).

The Go client, asking from inside an event callback, takes the very next frame as the
reply; a broadcast or emit made by the handler before it answers must therefore wait.
"""

from __future__ import annotations

from aioneffos.framework import Message, NSConn, Reply, Server
from support.serving import RawConnect
from support.waiting import TIMEOUT


async def broadcast_then_reply(ns: NSConn, msg: Message) -> Reply:
    ns.broadcast("news", b"before the reply")
    return Reply(b"the reply")


async def emit_then_reply(ns: NSConn, msg: Message) -> Reply:
    ns.emit("news", b"before the reply")
    return Reply(b"the reply")


async def ask_then_reply(ns: NSConn, msg: Message) -> bytes:
    answer = await ns.ask("question", b"?")
    return b"client said " + answer.body


def make_server(**options: object) -> Server:
    events = {"bcast": broadcast_then_reply, "emit": emit_then_reply, "askback": ask_then_reply}
    return Server({"default": events}, **options)


async def test_reply_overtakes_a_broadcast_made_by_its_handler(serve, raw: RawConnect) -> None:
    url = await serve(make_server())
    asker, other = await raw(url), await raw(url)
    await asker.connect("default")
    await other.connect("default")

    await asker.send("$1;default;;bcast;0;0;x")

    assert await asker.recv() == "$1;default;;bcast;0;0;the reply"
    assert await asker.recv() == ";default;;news;0;0;before the reply"
    assert await other.recv() == ";default;;news;0;0;before the reply"


async def test_reply_overtakes_an_emit_made_by_its_handler(serve, raw: RawConnect) -> None:
    asker = await raw(await serve(make_server()))
    await asker.connect("default")

    await asker.send("$1;default;;emit;0;0;x")

    assert await asker.recv() == "$1;default;;emit;0;0;the reply"
    assert await asker.recv() == ";default;;news;0;0;before the reply"


async def test_handler_can_ask_the_peer_while_its_other_frames_wait(serve, raw: RawConnect) -> None:
    asker = await raw(await serve(make_server()))
    await asker.connect("default")

    await asker.send("$1;default;;askback;0;0;x")
    question = await asker.recv()
    assert isinstance(question, str)
    token, rest = question.split(";", 1)
    assert rest == "default;;question;0;0;?"
    await asker.send(f"{token};default;;question;0;0;fine")

    assert await asker.recv() == "$1;default;;askback;0;0;client said fine"


async def test_plain_emits_are_not_held(serve, raw: RawConnect) -> None:
    server = make_server()
    url = await serve(server)
    peer = await raw(url)
    await peer.connect("default")

    await peer.send(";default;;bcast;0;0;x")  # no wait token: the reply is a plain emit back

    assert await peer.recv() == ";default;;news;0;0;before the reply"
    assert await peer.recv() == ";default;;bcast;0;0;the reply"


async def test_held_frames_past_the_queue_limit_flow_instead_of_closing(serve, raw: RawConnect) -> None:
    async def flood_then_reply(ns: NSConn, msg: Message) -> bytes:
        for i in range(10):
            ns.emit("news", str(i))
        return b"done"

    url = await serve(Server({"default": {"flood": flood_then_reply}}, outbound_queue_size=4))
    peer = await raw(url)
    await peer.connect("default")

    await peer.send("$1;default;;flood;0;0;")

    frames = [await peer.recv(TIMEOUT) for _ in range(11)]
    assert frames.count("$1;default;;flood;0;0;done") == 1
    assert [f for f in frames if isinstance(f, str) and ";news;" in f] == [
        f";default;;news;0;0;{i}" for i in range(10)
    ]
    # Past the limit the reply is no longer first (the hold was given up), but the peer is served.
    await peer.send("$2;default;;flood;0;0;")
    again = [await peer.recv(TIMEOUT) for _ in range(11)]
    assert "$2;default;;flood;0;0;done" in again
