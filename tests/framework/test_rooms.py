"""Rooms: join, room emits that reach members only, leave, leave_all, server-initiated join/leave."""

from __future__ import annotations

import pytest

from aioneffos.framework import Message, NSConn, RemoteError, Room, Server, WriteClosedError
from support.serving import Dial, RawConnect, Serve
from support.waiting import Inbox


def relay_to_room(ns: NSConn, msg: Message) -> None:
    """Broadcast a room message to every member of its room (the sender included)."""
    room = ns.room(msg.room)
    assert room is not None
    room.broadcast(msg.event, msg.body)


def room_server(**events: object) -> Server:
    return Server({"default": {"chat": relay_to_room, **events}})  # type: ignore[dict-item]


async def _member(url: str, clients: Dial, got: Inbox, name: str) -> NSConn:
    def on_chat(ns: NSConn, msg: Message) -> None:
        got.put((name, msg.room, msg.body))

    return await (await clients(url, {"default": {"chat": on_chat}})).connect("default")


async def test_join_room_gives_room_on_both_sides(serve: Serve, clients: Dial) -> None:
    joined = Inbox()
    server = room_server(_OnRoomJoined=lambda ns, msg: joined.put((msg.room, list(ns.rooms))))
    ns = await (await clients(await serve(server))).connect("default")
    room = await ns.join_room("room;1")
    assert (room.name, room.is_joined, list(ns.rooms)) == ("room;1", True, ["room;1"])
    assert await joined.get() == ("room;1", ["room;1"])


async def test_join_room_twice_gives_same_room(serve: Serve, clients: Dial) -> None:
    ns = await (await clients(await serve(room_server()))).connect("default")
    assert await ns.join_room("r") is await ns.join_room("r")


async def test_join_room_refused_by_server_raises_remote_error(serve: Serve, clients: Dial) -> None:
    def refuse(ns: NSConn, msg: Message) -> None:
        raise PermissionError("members only")

    ns = await (await clients(await serve(room_server(_OnRoomJoin=refuse)))).connect("default")
    with pytest.raises(RemoteError, match=r"^members only$"):
        await ns.join_room("vip")
    assert ns.room("vip") is None


async def test_room_emit_reaches_only_members(serve: Serve, clients: Dial) -> None:
    got = Inbox()
    url = await serve(room_server())
    alice = await _member(url, clients, got, "alice")
    bob = await _member(url, clients, got, "bob")
    carol = await _member(url, clients, got, "carol")
    room = await alice.join_room("r1")
    await bob.join_room("r1")
    await carol.join_room("r2")
    room.emit("chat", "to room")
    first = sorted([await got.get(), await got.get()])
    # A later message to carol's room proves she got nothing from r1 in between.
    carol_room = carol.room("r2")
    assert carol_room is not None
    carol_room.emit("chat", "marker")
    assert (first, await got.get()) == (
        [("alice", "r1", b"to room"), ("bob", "r1", b"to room")],
        ("carol", "r2", b"marker"),
    )


async def test_room_broadcast_exclude_self_skips_sender(serve: Serve, clients: Dial) -> None:
    got = Inbox()

    def others(ns: NSConn, msg: Message) -> None:
        room = ns.room(msg.room)
        assert room is not None
        room.broadcast("chat", msg.body, exclude_self=True)

    url = await serve(room_server(others=others))
    alice = await _member(url, clients, got, "alice")
    bob = await _member(url, clients, got, "bob")
    await bob.join_room("r")
    room = await alice.join_room("r")
    room.emit("others", "from alice")
    assert await got.get() == ("bob", "r", b"from alice")
    room.emit("chat", "marker")
    assert sorted([await got.get(), await got.get()]) == [("alice", "r", b"marker"), ("bob", "r", b"marker")]


async def test_leave_room_stops_room_messages(serve: Serve, clients: Dial) -> None:
    got = Inbox()
    left = Inbox()
    url = await serve(room_server(_OnRoomLeft=lambda ns, msg: left.put(msg.room)))
    alice = await _member(url, clients, got, "alice")
    bob = await _member(url, clients, got, "bob")
    room = await alice.join_room("r")
    bob_room = await bob.join_room("r")
    await bob_room.leave()
    assert (await left.get(), bob_room.is_joined, bob.room("r")) == ("r", False, None)
    room.emit("chat", "only alice")
    assert await got.get() == ("alice", "r", b"only alice")
    await bob.join_room("marker")
    with pytest.raises(
        WriteClosedError, match=r"^cannot write to room 'r' of namespace 'default': it is not joined"
    ):
        bob_room.emit("chat", "x")
    marker = bob.room("marker")
    assert marker is not None
    marker.emit("chat", "marker")
    assert await got.get() == ("bob", "marker", b"marker")


async def test_leave_room_not_joined_does_nothing(serve: Serve, clients: Dial) -> None:
    ns = await (await clients(await serve(room_server()))).connect("default")
    await ns.leave_room("never")
    assert list(ns.rooms) == []


async def test_leave_room_refused_by_server_keeps_room(serve: Serve, clients: Dial) -> None:
    def refuse(ns: NSConn, msg: Message) -> None:
        raise PermissionError("stay")

    ns = await (await clients(await serve(room_server(_OnRoomLeave=refuse)))).connect("default")
    room = await ns.join_room("r")
    with pytest.raises(RemoteError, match=r"^stay$"):
        await room.leave()
    assert room.is_joined is True


async def test_leave_all_leaves_every_room_on_both_sides(serve: Serve, clients: Dial) -> None:
    server = room_server()
    url = await serve(server)
    ns = await (await clients(url)).connect("default")
    for name in ("a", "b", "c"):
        await ns.join_room(name)
    await ns.leave_all()
    (remote,) = server.namespace_connections("default")
    assert (list(ns.rooms), list(remote.rooms)) == ([], [])


async def test_leave_all_with_neffos_js_room_left_shim_is_answered(serve: Serve, raw: RawConnect) -> None:
    # neffos.js leaveAll() asks with _OnRoomLeft; we take it as a leave (docs/protocol.md#leave-all).
    left = Inbox()
    server = room_server(_OnRoomLeft=lambda ns, msg: left.put((msg.room, list(ns.rooms))))
    peer = await raw(await serve(server))
    await peer.connect("default")
    await peer.join("default", "r2")
    await peer.send("$360000000000855786092;default;r2;_OnRoomLeft;0;0;")
    assert await peer.recv() == "$360000000000855786092;;;;;;"
    assert await left.get() == ("r2", [])


async def test_server_join_and_leave_reach_python_client(serve: Serve, clients: Dial) -> None:
    events = Inbox()

    async def move(ns: NSConn, msg: Message) -> str:
        room = await ns.join_room("srvroom")
        await room.leave()
        return "moved"

    def record(ns: NSConn, msg: Message) -> None:
        events.put((msg.event, msg.room, msg.is_local))

    handlers = {"_OnRoomJoined": record, "_OnRoomLeft": record}
    ns = await (await clients(await serve(room_server(move=move)), {"default": handlers})).connect("default")
    assert (await ns.ask("move")).body == b"moved"
    assert [await events.get(), await events.get()] == [
        ("_OnRoomJoined", "srvroom", False),
        ("_OnRoomLeft", "srvroom", False),
    ]
    assert list(ns.rooms) == []


async def test_server_join_sends_exact_request_and_adds_room(serve: Serve, raw: RawConnect) -> None:
    joined = Inbox()

    async def join(ns: NSConn, msg: Message) -> None:
        room = await ns.join_room("srvroom")
        joined.put((room.name, list(ns.rooms)))

    peer = await raw(await serve(room_server(join=join)))
    await peer.connect("default")
    await peer.send(";default;;join;0;0;")
    request = await peer.recv()
    assert isinstance(request, str)
    token, rest = request.split(";", 1)
    assert rest == "default;srvroom;_OnRoomJoin;0;0;"
    await peer.send(f"{token};;;;;;")
    assert await joined.get() == ("srvroom", ["srvroom"])


async def test_server_join_runs_server_hook_before_asking_client(serve: Serve, raw: RawConnect) -> None:
    # The server's _OnRoomJoin runs first (is_local=True) and may refuse without asking
    # (docs/protocol.md#server-join-order).
    def refuse(ns: NSConn, msg: Message) -> None:
        raise PermissionError("local says no")

    async def join(ns: NSConn, msg: Message) -> str:
        try:
            await ns.join_room("r")
        except PermissionError as exc:
            return f"refused: {exc}"
        return "joined"

    peer = await raw(await serve(room_server(join=join, _OnRoomJoin=refuse)))
    await peer.connect("default")
    assert await peer.ask("default", "join") == "$raw2;default;;join;0;0;refused: local says no"


async def test_server_join_then_client_room_emit_is_accepted(serve: Serve, clients: Dial) -> None:
    got = Inbox()

    async def join(ns: NSConn, msg: Message) -> None:
        await ns.join_room("srvroom")

    def on_joined(ns: NSConn, msg: Message) -> None:
        room = ns.room(msg.room)
        assert room is not None
        room.emit("chat", "first words")

    server = room_server(join=join)
    client = await clients(
        await serve(server),
        {"default": {"_OnRoomJoined": on_joined, "chat": lambda ns, msg: got.put((msg.room, msg.body))}},
    )
    (await client.connect("default")).emit("join")
    assert await got.get() == ("srvroom", b"first words")


async def test_room_of_joined_room_is_room_instance(serve: Serve, clients: Dial) -> None:
    ns = await (await clients(await serve(room_server()))).connect("default")
    room = await ns.join_room("r")
    assert (isinstance(room, Room), ns.room("r") is room, ns.room("other")) == (True, True, None)


async def test_disconnect_leaves_rooms_with_forced_events(serve: Serve, clients: Dial) -> None:
    left = Inbox()
    server = room_server(_OnRoomLeft=lambda ns, msg: left.put((msg.room, msg.is_forced)))
    ns = await (await clients(await serve(server))).connect("default")
    await ns.join_room("a")
    await ns.disconnect()
    assert (await left.get(), list(ns.rooms)) == (("a", True), [])


async def test_join_room_server_emit_in_joined_handler_reaches_client(serve: Serve, clients: Dial) -> None:
    got = Inbox()

    def greet(ns: NSConn, msg: Message) -> None:
        room = ns.room(msg.room)
        assert room is not None
        room.emit("chat", "welcome to " + msg.room)

    server = room_server(_OnRoomJoined=greet)
    client = await clients(
        await serve(server), {"default": {"chat": lambda ns, msg: got.put((msg.room, msg.body))}}
    )
    await (await client.connect("default")).join_room("r")
    assert await got.get() == ("r", b"welcome to r")
