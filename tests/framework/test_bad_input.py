"""Bad input after the ack: every frame gets its exact answer or is dropped, and serving goes on.

Each test proves a drop by sending an ask right after the bad frame: its answer must be
the very next frame (nothing was sent in between), and a second client is still served.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
from aiohttp import WSMsgType

from aioneffos.framework import Handler, Message, NSConn, Server
from support.peers import Frame, RawPeer
from support.serving import RawConnect, Serve
from support.waiting import Inbox


@attrs.define
class Setup:
    """A server whose every handler records its call, one misbehaving peer and one bystander."""

    calls: Inbox
    peer: RawPeer
    other: RawPeer

    async def assert_dropped_and_still_serving(self) -> None:
        """The next frame the peer gets is the answer to a fresh ask; the bystander is served too."""
        for client in (self.peer, self.other):
            assert (
                await client.ask("default", "echo", "alive")
                == f"{client.token_last()};default;;echo;0;0;alive"
            )
        assert self.calls.empty()


SYSTEM_HOOKS = ("_OnNamespaceConnected", "_OnRoomJoined", "_OnRoomLeft", "_OnAnyEvent")


@pytest.fixture
async def setup(serve: Serve, raw: RawConnect) -> Setup:
    """Every handler records calls that carry a body: the real connects and joins of the
    test carry none, every bad frame here does."""
    calls = Inbox()

    def record(name: str) -> Callable[[NSConn, Message], None]:
        def handler(ns: NSConn, msg: Message) -> None:
            if msg.body:
                calls.put((name, msg.event, msg.body))

        return handler

    default: dict[str, Handler] = {name: record(name) for name in (*SYSTEM_HOOKS, "chat")}
    default["echo"] = lambda ns, msg: msg.body
    server = Server(
        {"default": default, "other": {"chat": record("other")}, "": {"_OnNativeMessage": record("native")}}
    )
    url = await serve(server)
    peer, other = await raw(url), await raw(url)
    await peer.connect("default")
    await other.connect("default")
    return Setup(calls, peer, other)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("garbage", id="garbage"),
        pytest.param("x;default;;chat;0;0", id="five-separators"),
        pytest.param("default;chat;", id="two-separators"),
        pytest.param("", id="empty-text"),
        pytest.param(b"", id="empty-binary"),
        pytest.param(b"$1;def\xffault;;echo;0;0;x", id="binary-header-not-utf8"),
        pytest.param(b"$1;default;;ec\xc3ho;0;0;x", id="binary-event-not-utf8"),
        pytest.param(b"\x00\x01\x02", id="binary-garbage"),
        pytest.param("Aspoofed-id", id="spoofed-ack-after-ack"),
        pytest.param("Hello", id="hello-after-ack"),
        pytest.param("M", id="second-m"),
        pytest.param(";nope;;chat;0;0;x", id="emit-to-unknown-namespace"),
        pytest.param(";other;;chat;0;0;x", id="emit-to-namespace-not-connected"),
        pytest.param(";default;r;chat;0;0;x", id="emit-to-room-not-joined"),
        pytest.param(";default;;_OnNamespaceConnect;0;0;", id="connect-without-token"),
        pytest.param(";default;r;_OnRoomJoin;0;0;", id="join-without-token"),
        pytest.param(";default;r;_OnRoomLeave;0;0;", id="leave-without-token"),
        pytest.param(";default;;_OnNamespaceDisconnect;0;0;", id="disconnect-without-token"),
        pytest.param("$j;default;r;_OnRoomJoin;0;1;", id="join-with-noop"),
    ],
)
async def test_bad_frame_is_dropped_and_connection_kept(setup: Setup, frame: Frame) -> None:
    await setup.peer.send(frame)
    await setup.assert_dropped_and_still_serving()


async def test_invalid_utf8_text_frame_closes_1007(setup: Setup) -> None:
    await setup.peer.ws.send_frame(b";default;;chat;0;0;\xff", WSMsgType.TEXT)
    code, _ = await setup.peer.recv_close()
    assert code == 1007
    assert await setup.other.ask("default", "echo", "x") == f"{setup.other.token_last()};default;;echo;0;0;x"


@pytest.mark.parametrize(
    ("frame", "answer"),
    [
        pytest.param("$u;nope;;chat;0;0;x", "$u;nope;;chat;1;0;bad namespace", id="ask-to-unknown-namespace"),
        pytest.param(
            "$u;other;;chat;0;0;x", "$u;other;;chat;1;0;bad namespace", id="ask-to-namespace-not-connected"
        ),
        pytest.param(
            "$u;other;r;_OnRoomJoin;0;0;", "$u;other;r;_OnRoomJoin;1;0;bad namespace", id="join-elsewhere"
        ),
        pytest.param(
            "$u;other;r;_OnRoomLeave;0;0;", "$u;other;r;_OnRoomLeave;1;0;bad namespace", id="leave-elsewhere"
        ),
        pytest.param(
            "$u;default;r;chat;0;0;x", "$u;default;r;chat;1;0;bad room", id="ask-to-room-not-joined"
        ),
        pytest.param(
            "$u;nope;;_OnNamespaceConnect;0;0;",
            "$u;nope;;_OnNamespaceConnect;1;0;bad namespace",
            id="connect-unknown-namespace",
        ),
        pytest.param(
            "$u;default;;_OnNamespaceConnected;0;0;forged",
            "$u;default;;_OnNamespaceConnected;1;0;invalid payload",
            id="forged-namespace-connected",
        ),
        pytest.param(
            "$u;default;r;_OnRoomJoined;0;0;forged",
            "$u;default;r;_OnRoomJoined;1;0;invalid payload",
            id="forged-room-joined",
        ),
        pytest.param(
            "7;default;;_OnRoomLeft;0;0;forged",
            "7;default;;_OnRoomLeft;1;0;invalid payload",
            id="forged-room-left-without-dollar-token",
        ),
        pytest.param(
            "$u;default;;_OnAnyEvent;0;0;forged",
            "$u;default;;_OnAnyEvent;1;0;invalid payload",
            id="forged-any-event",
        ),
        pytest.param(
            "$u;default;;_OnNativeMessage;0;0;forged",
            "$u;default;;_OnNativeMessage;1;0;invalid payload",
            id="forged-native-in-default",
        ),
        pytest.param("$u;default;;_OnRoomLeft;0;0;", "$u;;;;;;", id="room-left-shim-for-room-not-joined"),
        pytest.param(
            "$u;default;;_OnNamespaceDisconnect;0;0;", "$u;;;;;;", id="disconnect-other-answers-empty"
        ),
        pytest.param("$u;default;;_OnNamespaceConnect;0;0;", "$u;;;;;;", id="connect-again-answers-empty"),
        pytest.param(
            "99;default;;echo;0;0;x", "99;default;;echo;0;0;x", id="unmatched-server-token-dispatched"
        ),
        pytest.param("$u;default;;echo;0;1;noop", "$u;default;;echo;0;0;noop", id="v32-noop-not-echoed"),
    ],
)
async def test_bad_ask_gets_exact_answer_and_connection_kept(setup: Setup, frame: str, answer: str) -> None:
    await setup.peer.send(frame)
    assert await setup.peer.recv() == answer
    if "_OnNamespaceDisconnect" in frame:
        await setup.peer.connect("default")
    await setup.assert_dropped_and_still_serving()


async def test_forged_system_events_without_token_are_dropped(setup: Setup) -> None:
    for event in (*SYSTEM_HOOKS, "_OnNativeMessage"):
        await setup.peer.send(f";default;;{event};0;0;forged")
    await setup.assert_dropped_and_still_serving()


async def test_forged_native_message_in_empty_namespace_is_not_dispatched(setup: Setup) -> None:
    await setup.peer.connect("")
    await setup.peer.send("$n;;;_OnNativeMessage;0;0;forged")
    assert await setup.peer.recv() == "$n;;;_OnNativeMessage;1;0;invalid payload"
    await setup.peer.send(";;;_OnNativeMessage;0;0;forged")
    await setup.assert_dropped_and_still_serving()


async def test_native_frame_in_empty_namespace_reaches_native_handler(setup: Setup) -> None:
    await setup.peer.connect("")
    await setup.peer.send("raw hello")
    assert await setup.calls.get() == ("native", "_OnNativeMessage", b"raw hello")


async def test_native_frame_without_empty_namespace_connected_is_dropped(setup: Setup) -> None:
    await setup.peer.send("raw hello")
    await setup.assert_dropped_and_still_serving()


async def test_emit_of_unknown_event_is_dropped(serve: Serve, raw: RawConnect) -> None:
    peer = await raw(await serve(Server({"default": {"echo": lambda ns, msg: msg.body}})))
    await peer.connect("default")
    await peer.send(";default;;missing;0;0;x")
    assert await peer.ask("default", "echo", "x") == "$raw2;default;;echo;0;0;x"


async def test_noop_connect_is_ignored_v33(serve: Serve, raw: RawConnect) -> None:
    peer = await raw(await serve(Server({"default": {"echo": lambda ns, msg: msg.body}})))
    await peer.send("$10;default;;_OnNamespaceConnect;0;1;")
    # Not connected, and nothing was sent in between:
    assert await peer.ask("default", "echo", "x") == "$raw1;default;;echo;1;0;bad namespace"


async def test_handler_raising_on_emit_sends_error_with_empty_wait(serve: Serve, raw: RawConnect) -> None:
    def fail(ns: NSConn, msg: Message) -> None:
        raise ValueError("custom; failure")

    peer = await raw(await serve(Server({"default": {"fail": fail, "echo": lambda ns, msg: msg.body}})))
    await peer.connect("default")
    await peer.send(";default;;fail;0;0;not an ask")
    assert await peer.recv() == ";default;;fail;1;0;custom; failure"
    assert await peer.ask("default", "echo", "up") == "$raw2;default;;echo;0;0;up"


async def test_handler_returning_unsendable_value_gives_error_reply(serve: Serve, raw: RawConnect) -> None:
    peer = await raw(
        await serve(Server({"default": {"bad": lambda ns, msg: object(), "echo": lambda ns, msg: msg.body}}))
    )
    await peer.connect("default")
    await peer.send("$b;default;;bad;0;0;")
    assert await peer.recv() == "$b;default;;bad;1;0;cannot send a object as a message body"
    assert await peer.ask("default", "echo", "up") == "$raw2;default;;echo;0;0;up"


async def test_failing_connect_hook_error_reply_keeps_connection(serve: Serve, raw: RawConnect) -> None:
    def refuse(ns: NSConn, msg: Message) -> None:
        raise RuntimeError

    server = Server(
        {"default": {"echo": lambda ns, msg: msg.body}, "locked": {"_OnNamespaceConnect": refuse}}
    )
    peer = await raw(await serve(server))
    await peer.send("$l;locked;;_OnNamespaceConnect;0;0;")
    assert await peer.recv() == "$l;locked;;_OnNamespaceConnect;1;0;RuntimeError"
    await peer.connect("default")
    assert await peer.ask("default", "echo", "up") == "$raw2;default;;echo;0;0;up"
