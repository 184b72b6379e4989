"""neffos.js 0.1.34 against our server: joining, room messages, leaving.

See docs/protocol.md#rooms."""

from __future__ import annotations

import pytest

from aioneffos.framework import Message, NSConn, Server
from compat.node_client import RECORD, CommandError, LeaveResult, NodeConn, NodeDriver
from compat.server_probe import Probe, counting_ids

pytestmark = pytest.mark.compat

HOOKS = ("_OnRoomJoin", "_OnRoomJoined", "_OnRoomLeave", "_OnRoomLeft")
CLIENT_EVENTS = {"room_chat": RECORD, "marker": RECORD}


def room_chat(ns: NSConn, msg: Message) -> None:
    """Pass a room message on to the room, then mark the end to the whole namespace."""
    ns.broadcast("room_chat", msg.body, room=msg.room)
    # Every connection's queue is FIFO: whoever gets the marker would have got the room
    # message before it, so a member-only delivery is proven by the marker's arrival.
    ns.broadcast("marker", f"after {msg.text}")


def make_server(probe: Probe) -> Server:
    return Server({"default": {**probe.events(*HOOKS), "room_chat": room_chat}}, id_generator=counting_ids())


async def connected(driver: NodeDriver, url: str) -> NodeConn:
    client = await driver.dial(url, {"default": CLIENT_EVENTS})
    await client.connect("default")
    return client


def server_rooms(server: Server, conn_id: str) -> list[str]:
    conn = server.connection(conn_id)
    assert conn is not None
    ns = conn.namespace("default")
    assert ns is not None
    return list(ns.rooms)


def room_messages(client: NodeConn) -> list[tuple[str | None, str | bytes | None]]:
    return [(m.room, m.body) for m in client.messages() if m.handler == "room_chat"]


async def test_join_runs_the_server_hooks_and_makes_a_member(serve, driver: NodeDriver, probe: Probe) -> None:
    server = make_server(probe)
    client = await connected(driver, await serve(server))

    await client.join_room("default", "room;1")

    join = await probe.next("_OnRoomJoin")
    joined = await probe.next("_OnRoomJoined")
    assert (join.conn_id, join.room, join.is_local) == ("conn-1", "room;1", False)
    assert (joined.conn_id, joined.room, joined.wait) == ("conn-1", "room;1", "")
    assert server_rooms(server, "conn-1") == ["room;1"]
    local = await client.wait_for("_OnRoomJoined")
    assert (local.room, local.is_local) == ("room;1", True)
    assert (await client.state()).namespaces == {"default": ["room;1"]}


async def test_join_refused_by_the_server_hook_rejects_with_its_text(serve, driver: NodeDriver) -> None:
    def refuse(ns: NSConn, msg: Message) -> None:
        raise PermissionError(f"{msg.room} is full")

    server = Server({"default": {"_OnRoomJoin": refuse}}, id_generator=counting_ids())
    client = await connected(driver, await serve(server))

    with pytest.raises(CommandError) as info:
        await client.join_room("default", "vip")

    assert (info.value.message, info.value.error_type) == ("vip is full", "Error")
    assert server_rooms(server, "conn-1") == []
    assert (await client.state()).namespaces == {"default": []}


async def test_room_message_reaches_only_the_members(serve, driver: NodeDriver, probe: Probe) -> None:
    url = await serve(make_server(probe))
    sender, member, outsider = [await connected(driver, url) for _ in range(3)]
    await sender.join_room("default", "r1")
    await member.join_room("default", "r1")

    assert await sender.room_emit("default", "r1", "room_chat", "to room; r1")

    for client in (sender, member):
        msg = await client.wait_for("room_chat")
        assert (msg.namespace, msg.room, msg.body, msg.wait) == ("default", "r1", "to room; r1", "")
    assert (await outsider.wait_for("marker")).body == "after to room; r1"
    assert room_messages(outsider) == []


async def test_member_that_left_no_longer_gets_room_messages(serve, driver: NodeDriver, probe: Probe) -> None:
    server = make_server(probe)
    url = await serve(server)
    leaver, stayer = [await connected(driver, url) for _ in range(2)]
    await leaver.join_room("default", "r1")
    await stayer.join_room("default", "r1")

    assert await leaver.leave_room("default", "r1") == LeaveResult(None, "null")

    leave = await probe.next("_OnRoomLeave", conn_id="conn-1")
    left = await probe.next("_OnRoomLeft", conn_id="conn-1")
    assert (leave.room, leave.is_local, left.room) == ("r1", False, "r1")
    assert server_rooms(server, "conn-1") == []
    assert (await leaver.state()).namespaces == {"default": []}
    assert not await leaver.room_emit("default", "r1", "room_chat", "refused locally")
    assert await stayer.room_emit("default", "r1", "room_chat", "only stayer")
    assert (await stayer.wait_for("room_chat")).body == "only stayer"
    assert (await leaver.wait_for("marker")).body == "after only stayer"
    assert room_messages(leaver) == []


async def test_leave_all_makes_the_server_leave_every_room(serve, driver: NodeDriver, probe: Probe) -> None:
    server = make_server(probe)
    client = await connected(driver, await serve(server))
    await client.join_room("default", "r1")
    await client.join_room("default", "r2")

    # neffos.js resolves at once and asks with _OnRoomLeft; our server
    # takes such an ask as a leave request (docs/protocol.md#leave-all).
    assert await client.leave_all("default") == LeaveResult(None, "null")

    for room in ("r1", "r2"):
        leave = await probe.next("_OnRoomLeave", room=room)
        left = await probe.next("_OnRoomLeft", room=room)
        assert (leave.conn_id, leave.event, leave.is_local) == ("conn-1", "_OnRoomLeave", False)
        assert (left.conn_id, left.wait) == ("conn-1", "")
    assert server_rooms(server, "conn-1") == []


async def test_leave_all_of_two_rooms_leaves_one_stale_room_in_neffos_js(serve, driver: NodeDriver) -> None:
    server = make_server(Probe())
    client = await connected(driver, await serve(server))
    await client.join_room("default", "r1")
    await client.join_room("default", "r2")

    await client.leave_all("default")

    # neffos.js 0.1.34 shares one Message between the forEach callbacks of leaveAll, so
    # when the two replies come back it handles the last room twice: _OnRoomLeft fires
    # four times for "r2" and "r1" stays joined on the client only.
    for _ in range(4):
        msg = await client.wait_for("_OnRoomLeft")
        assert (msg.room, msg.is_local) == ("r2", True)
    assert (await client.state()).namespaces == {"default": ["r1"]}
    assert server_rooms(server, "conn-1") == []


async def test_leave_of_a_room_the_server_already_left_resolves_to_null(
    serve, driver: NodeDriver, probe: Probe
) -> None:
    server = make_server(probe)
    client = await connected(driver, await serve(server))
    await client.join_room("default", "r1")
    await client.join_room("default", "r2")
    await client.leave_all("default")
    for _ in range(4):  # see test_leave_all_of_two_rooms_leaves_one_stale_room_in_neffos_js
        await client.wait_for("_OnRoomLeft")
    leaves_before = len(probe.seen("_OnRoomLeave"))

    # "r1" is joined in neffos.js only, so this ask reaches a server that is not in the
    # room: the empty reply (docs/protocol.md#room-leave) lets neffos.js finish the leave.
    assert await client.leave_room("default", "r1") == LeaveResult(None, "null")

    assert (await client.state()).namespaces == {"default": []}
    assert len(probe.seen("_OnRoomLeave")) == leaves_before == 2
    assert server_rooms(server, "conn-1") == []


async def test_leave_of_a_room_never_joined_resolves_to_bad_room_in_neffos_js(
    serve, driver: NodeDriver, probe: Probe
) -> None:
    client = await connected(driver, await serve(make_server(probe)))

    # Checked locally, nothing is sent (docs/protocol.md#room-leave).
    assert await client.leave_room("default", "ghost") == LeaveResult("bad room", "Error")

    await client.join_room("default", "real")  # handled after anything sent before it
    assert [c.room for c in probe.seen("_OnRoomLeave")] == []
