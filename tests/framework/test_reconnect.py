"""A client across a server restart: handles stay valid, writes in between raise, gone ones say so."""

from __future__ import annotations

import asyncio

import pytest

from aioneffos.framework import (
    Conn,
    Message,
    NSConn,
    ReconnectingError,
    Server,
    WriteClosedError,
    dial,
)
from support.serving import AppServer
from support.waiting import Inbox

GUARD = 30.0  # seconds: only so that a hang fails the test instead of stalling the suite


class Restartable:
    """Builds the same server again for each start and records what it hears."""

    def __init__(self) -> None:
        self.heard = Inbox()
        self.joined = Inbox()
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    def make(self) -> Server:
        async def slow(ns: NSConn, msg: Message) -> str:
            self.asked.set()
            await self.release.wait()  # set when the test is over: the connection drops first
            return "late"

        return Server(
            {
                "default": {
                    "chat": lambda ns, msg: self.heard.put((msg.room, msg.text)),
                    "slow": slow,
                    "_OnRoomJoined": lambda ns, msg: self.joined.put(msg.room),
                }
            }
        )


async def _lost(conn: Conn) -> None:
    """Wait until the client has noticed that its socket dropped."""
    await asyncio.wait_for(conn.wait_closed(), GUARD)


async def test_room_held_by_the_program_works_again_after_a_server_restart(app_server: AppServer) -> None:
    server = Restartable()
    restored = Inbox()
    conn = await dial(
        await app_server.start(server.make()),
        {"default": {"_OnRoomJoined": lambda ns, msg: restored.put(msg.room)}},
        reconnect=0.05,
    )
    try:
        ns = await conn.connect("default")
        lobby = await ns.join_room("lobby")
        await restored.get()
        await app_server.stop()
        await _lost(conn)
        await app_server.start(server.make())
        assert await restored.get() == "lobby"  # rejoined by the client itself
        assert await conn.wait_connect("default", timeout=GUARD) is ns

        lobby.emit("chat", "after the restart")

        assert await server.heard.get() == ("lobby", "after the restart")
        assert (ns.room("lobby") is lobby, lobby.is_joined, conn.is_reconnecting) == (True, True, False)
    finally:
        await conn.close()


async def test_writes_while_reconnecting_raise_reconnecting_error_naming_the_handle(
    app_server: AppServer,
) -> None:
    server = Restartable()
    conn = await dial(await app_server.start(server.make()), {"default": {}}, reconnect=0.05)
    try:
        ns = await conn.connect("default")
        lobby = await ns.join_room("lobby")
        await app_server.stop()
        await _lost(conn)
        assert conn.is_reconnecting is True

        with pytest.raises(ReconnectingError) as room_emit:
            lobby.emit("chat", "lost")
        with pytest.raises(ReconnectingError) as ns_emit:
            ns.emit("chat", "lost")
        with pytest.raises(ReconnectingError):
            await ns.ask("chat")
        with pytest.raises(ReconnectingError):
            await conn.connect("default")

        assert str(room_emit.value) == (
            "cannot write to room 'lobby' of namespace 'default': the connection dropped and is"
            " reconnecting (nothing was sent)"
        )
        assert (room_emit.value.namespace, room_emit.value.room, ns_emit.value.room) == (
            "default",
            "lobby",
            None,
        )
        assert isinstance(room_emit.value, WriteClosedError)  # still "not sent" for older except clauses
    finally:
        await conn.close()


async def test_ask_in_flight_when_the_socket_drops_raises_reconnecting_error(app_server: AppServer) -> None:
    server = Restartable()
    made = server.make()
    conn = await dial(await app_server.start(made), {"default": {}}, reconnect=0.05)
    try:
        ns = await conn.connect("default")
        asking = asyncio.ensure_future(ns.ask("slow", timeout=GUARD))
        await asyncio.wait_for(server.asked.wait(), GUARD)
        made.close_connection(conn.id)  # the server drops the client while its handler runs
        with pytest.raises(ReconnectingError, match=r"dropped and is reconnecting"):
            await asking
    finally:
        server.release.set()
        await conn.close()


async def test_wait_connect_waits_through_a_reconnection(app_server: AppServer) -> None:
    server = Restartable()
    conn = await dial(await app_server.start(server.make()), {"default": {}}, reconnect=0.05)
    try:
        ns = await conn.connect("default")
        await app_server.stop()
        await _lost(conn)
        waiting = asyncio.ensure_future(conn.wait_connect("default", timeout=GUARD))
        await asyncio.sleep(0)  # the waiter is registered while the socket is down
        assert not waiting.done()
        await app_server.start(server.make())
        assert await waiting is ns
    finally:
        await conn.close()


async def test_room_left_while_reconnecting_is_not_restored(app_server: AppServer) -> None:
    server = Restartable()
    rejoined = Inbox()
    conn = await dial(
        await app_server.start(server.make()),
        {"default": {"_OnRoomJoined": lambda ns, msg: rejoined.put(msg.room)}},
        reconnect=0.05,
    )
    try:
        ns = await conn.connect("default")
        lobby = await ns.join_room("lobby")
        await ns.join_room("kitchen")
        assert [await rejoined.get(), await rejoined.get()] == ["lobby", "kitchen"]
        await app_server.stop()
        await _lost(conn)

        await lobby.leave()

        await app_server.start(server.make())
        assert await rejoined.get() == "kitchen"  # lobby would have come first
        ns.emit("chat", "marker")
        assert await server.heard.get() == ("", "marker")
        assert (list(ns.rooms), rejoined.empty()) == (["kitchen"], True)
        with pytest.raises(WriteClosedError, match=r"^cannot write to room 'lobby' .*: it is not joined"):
            lobby.emit("chat", "x")
    finally:
        await conn.close()


async def test_close_while_waiting_to_redial_ends_the_client(app_server: AppServer) -> None:
    server = Restartable()
    conn = await dial(
        await app_server.start(server.make()), {"default": {}}, reconnect=3600.0, close_timeout=3600.0
    )
    ns = await conn.connect("default")
    await app_server.stop()
    await _lost(conn)

    await asyncio.wait_for(conn.close(), GUARD)  # does not sit out the hour before the next dial

    assert (conn.is_reconnecting, conn.is_closed) == (False, True)
    with pytest.raises(
        WriteClosedError, match=r"^cannot write to namespace 'default': connection '.*' is closed$"
    ):
        ns.emit("chat", "x")
    with pytest.raises(WriteClosedError):
        await conn.wait_connect("default", timeout=GUARD)


async def test_without_reconnect_a_dropped_connection_is_closed_not_reconnecting(
    app_server: AppServer,
) -> None:
    server = Restartable()
    conn = await dial(await app_server.start(server.make()), {"default": {}})
    try:
        ns = await conn.connect("default")
        await app_server.stop()
        await _lost(conn)
        assert conn.is_reconnecting is False
        with pytest.raises(WriteClosedError) as caught:
            ns.emit("chat", "x")
        assert type(caught.value) is WriteClosedError
    finally:
        await conn.close()
