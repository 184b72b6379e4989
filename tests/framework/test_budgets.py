"""Memory budgets a peer cannot push past: the inbound backlog while a handler awaits its own
ask, frames before ``M``, rooms per connection, names; bystanders keep being served."""

from __future__ import annotations

from aioneffos.framework import BacklogFullError, Message, NSConn, Server
from aioneffos.framework.handshake import MAX_PRE_ACK_BYTES
from support.peers import RawPeer
from support.serving import RawConnect, Serve
from support.waiting import Inbox


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


async def connected(url: str, raw: RawConnect) -> RawPeer:
    peer = await raw(url)
    await peer.connect("default")
    return peer


async def assert_still_served(peer: RawPeer) -> None:
    assert (
        await peer.ask("default", "echo", "still served")
        == f"{peer.token_last()};default;;echo;0;0;still served"
    )


# -- inbound backlog while a handler awaits its own ask ---------------------------------


async def test_flood_while_handler_awaits_its_ask_fails_the_ask_and_loses_nothing(
    serve: Serve, raw: RawConnect
) -> None:
    outcome = Inbox()
    seen: list[bytes] = []
    all_seen = Inbox()

    async def ask_back(ns: NSConn, msg: Message) -> str:
        try:
            await ns.ask("question", timeout=30)
        except BacklogFullError as exc:
            outcome.put(str(exc))
            raise
        return "answered"

    def count(ns: NSConn, msg: Message) -> None:
        seen.append(msg.body)
        if len(seen) == 40:
            all_seen.put(None)

    server = Server(
        {"default": {"ask_back": ask_back, "count": count, "echo": echo}}, inbound_backlog_bytes=64 * 1024
    )
    url = await serve(server)
    other = await connected(url, raw)
    peer = await connected(url, raw)
    await peer.send("$b;default;;ask_back;0;0;")
    question = await peer.recv()
    assert isinstance(question, str)
    assert question.endswith(";default;;question;0;0;")
    bodies = [f"{i:02d}".encode() * 2048 for i in range(40)]  # 40 x 4 KiB: past 64 KiB with overhead
    for body in bodies:
        await peer.send(b";default;;count;0;0;" + body)

    text = await outcome.get()
    assert text.startswith("gave up waiting for a reply from ")
    assert text.endswith("it sent more than inbound_backlog_bytes (65536) meanwhile")
    assert await peer.recv() == f"$b;default;;ask_back;1;0;{text}"
    await all_seen.get()
    assert seen == bodies  # everything held was handled, in order
    await assert_still_served(peer)
    await assert_still_served(other)


async def test_flood_under_byte_budget_keeps_reading_for_the_reply(serve: Serve, raw: RawConnect) -> None:
    # Past the message count (4) but under the byte budget: the reply behind the flood arrives.
    async def ask_back(ns: NSConn, msg: Message) -> str:
        return (await ns.ask("question", timeout=30)).text

    url = await serve(Server({"default": {"ask_back": ask_back, "echo": echo}}, inbound_backlog_size=4))
    peer = await connected(url, raw)
    await peer.send("$b;default;;ask_back;0;0;")
    question = await peer.recv()
    assert isinstance(question, str)
    for i in range(20):
        await peer.send(f";default;;nothing;0;0;{i}")
    await peer.send(question.split(";")[0] + ";default;;question;0;0;forty-two")
    assert await peer.recv() == "$b;default;;ask_back;0;0;forty-two"


# -- before M -----------------------------------------------------------------------------


async def test_frames_before_m_past_64_kib_close_1008(serve: Serve, raw: RawConnect) -> None:
    url = await serve(Server({"default": {"echo": echo}}))
    other = await connected(url, raw)
    peer = await raw(url, handshake=False)
    await peer.send("x" * (MAX_PRE_ACK_BYTES // 2))
    await peer.send("x" * (MAX_PRE_ACK_BYTES // 2 + 1))
    assert await peer.recv_close() == (1008, "expected the neffos handshake (M)")
    await assert_still_served(other)


async def test_frames_before_m_of_exactly_64_kib_are_held(serve: Serve, raw: RawConnect) -> None:
    url = await serve(Server({"default": {"echo": echo}}, id_generator=lambda r: "c1"))
    peer = await raw(url, handshake=False)
    head = "$e;default;;echo;0;0;"
    connect = "$c;default;;_OnNamespaceConnect;0;0;"
    ask = head + "x" * (MAX_PRE_ACK_BYTES - len(connect) - len(head))
    await peer.send(connect)
    await peer.send(ask)
    await peer.send("M")
    assert [await peer.recv() for _ in range(3)] == ["Ac1", "$c;;;;;;", ask]


# -- rooms and names ----------------------------------------------------------------------


async def join(peer: RawPeer, ns: str, room: str) -> str:
    frame = await peer.ask(ns, "_OnRoomJoin", room=room)
    assert isinstance(frame, str)
    return frame


async def test_join_past_max_rooms_gets_too_many_rooms_across_namespaces(
    serve: Serve, raw: RawConnect
) -> None:
    url = await serve(Server({"default": {"echo": echo}, "other": {}}, max_rooms_per_connection=3))
    peer = await connected(url, raw)
    await peer.connect("other")
    answers = [
        await join(peer, "default", "a"),
        await join(peer, "other", "b"),
        await join(peer, "default", "c"),
    ]
    assert answers == [f"$raw{i};;;;;;" for i in (3, 4, 5)]
    assert await join(peer, "other", "d") == "$raw6;other;d;_OnRoomJoin;1;0;too many rooms"
    assert await join(peer, "default", "a") == "$raw7;;;;;;"  # already joined: still fine
    assert await peer.ask("default", "_OnRoomLeave", room="a") == "$raw8;;;;;;"
    assert await join(peer, "other", "d") == "$raw9;;;;;;"  # a place came free
    await assert_still_served(peer)


async def test_default_max_rooms_is_256(serve: Serve, raw: RawConnect) -> None:
    url = await serve(Server({"default": {"echo": echo}}))
    peer = await connected(url, raw)
    for i in range(256):
        await peer.send(f"$j{i};default;room{i};_OnRoomJoin;0;0;")
    await peer.send("$j256;default;room256;_OnRoomJoin;0;0;")
    answers = [await peer.recv() for _ in range(257)]
    assert answers[:256] == [f"$j{i};;;;;;" for i in range(256)]
    assert answers[256] == "$j256;default;room256;_OnRoomJoin;1;0;too many rooms"


async def test_room_name_past_max_name_length_is_refused_before_the_hook(
    serve: Serve, raw: RawConnect
) -> None:
    hooked = Inbox()
    url = await serve(
        Server({"default": {"echo": echo, "_OnRoomJoin": lambda ns, msg: hooked.put(msg.room)}})
    )
    peer = await connected(url, raw)
    assert await join(peer, "default", "é" * 128) == "$raw2;;;;;;"  # 256 bytes: fits
    answer = await join(peer, "default", "r" * 257)
    assert answer == f"$raw3;default;{'r' * 256};_OnRoomJoin;1;0;name too long"
    assert await hooked.get() == "é" * 128
    assert hooked.empty()


async def test_error_replies_cut_echoed_names(serve: Serve, raw: RawConnect) -> None:
    url = await serve(Server({"default": {"echo": echo}}, max_name_length=16))
    peer = await connected(url, raw)
    long = "n" * 100_000
    assert await peer.ask(long, "chat") == f"$raw2;{'n' * 16};;chat;1;0;bad namespace"
    assert await peer.ask("default", long) == f"$raw3;default;;{'n' * 16};1;0;unknown event '{'n' * 16}'"
    assert await peer.ask("default", "chat", room=long) == f"$raw4;default;{'n' * 16};chat;1;0;bad room"


async def test_any_event_handler_is_not_given_names_past_max_name_length(
    serve: Serve, raw: RawConnect
) -> None:
    url = await serve(Server({"default": {"_OnAnyEvent": lambda ns, msg: msg.event}}, max_name_length=8))
    peer = await connected(url, raw)
    assert await peer.ask("default", "eightchr") == "$raw2;default;;eightchr;0;0;eightchr"
    assert await peer.ask("default", "ninechars") == "$raw3;default;;ninechar;1;0;name too long"
