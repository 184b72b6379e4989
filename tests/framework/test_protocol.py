"""The wire codec against golden frames captured from Go neffos and neffos.js 0.1.34, plus round trips.

Frames the *server* sends are encoded and compared byte for byte; frames a *client*
sends are decoded and compared field by field. Handshake vectors (1-3, 37) are asserted
on a live server in test_server.py; here they must not decode as messages.
"""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioneffos.framework import Message
from aioneffos.framework.protocol import (
    ESCAPED_SEMICOLON,
    Frame,
    Tokens,
    decode,
    empty_reply,
    encode,
    encode_fields,
    encode_native,
    escape,
    unescape,
)

T, B = "T", "B"


def _decode(kind: str, frame: bytes, *, allow_native: bool = False) -> Message | None:
    """Decode *frame* as the websocket layer hands it over: text as ``str``, binary as ``bytes``."""
    return decode(frame.decode() if kind == T else frame, allow_native=allow_native)


def _fields(msg: Message | None) -> dict[str, object]:
    assert msg is not None
    return attrs.asdict(msg)


def _msg(**fields: object) -> dict[str, object]:
    """The fields a decoded message must have: *fields* over the defaults."""
    return attrs.asdict(Message().evolve(**fields))


# -- frames a client sends: decode and compare every field ---------------------

DECODED = [
    pytest.param(
        T,
        b"$359000000000138279427;default;;_OnNamespaceConnect;0;0;",
        _msg(wait="$359000000000138279427", namespace="default", event="_OnNamespaceConnect"),
        id="v04-js-connect",
    ),
    pytest.param(
        T,
        b"$1795714324227808671;default;;_OnNamespaceConnect;0;0;",
        _msg(wait="$1795714324227808671", namespace="default", event="_OnNamespaceConnect"),
        id="v06-go-connect",
    ),
    pytest.param(
        T,
        b";default;;chat;0;0;hello; world",
        _msg(namespace="default", event="chat", body=b"hello; world"),
        id="v09-emit-body-with-semicolon",
    ),
    pytest.param(
        T,
        b"$359000000000341927541;default;;echo;0;0;ping;1",
        _msg(wait="$359000000000341927541", namespace="default", event="echo", body=b"ping;1"),
        id="v10-client-ask",
    ),
    pytest.param(
        T,
        b";default;;fail;0;0;not an ask",
        _msg(namespace="default", event="fail", body=b"not an ask"),
        id="v14-emit-answered-by-error",
    ),
    pytest.param(
        T,
        b"$360000000000449529336;default;room@%!semicolon@%!1;_OnRoomJoin;0;0;",
        _msg(wait="$360000000000449529336", namespace="default", room="room;1", event="_OnRoomJoin"),
        id="v15-join-escaped-room",
    ),
    pytest.param(
        T,
        b";default;room@%!semicolon@%!1;chat;0;0;to room",
        _msg(namespace="default", room="room;1", event="chat", body=b"to room"),
        id="v17-room-emit",
    ),
    pytest.param(
        T,
        b"$360000000000652598812;default;room@%!semicolon@%!1;_OnRoomLeave;0;0;",
        _msg(wait="$360000000000652598812", namespace="default", room="room;1", event="_OnRoomLeave"),
        id="v18-leave",
    ),
    pytest.param(
        T,
        b"$360000000000855786092;default;r2;_OnRoomLeft;0;0;",
        _msg(wait="$360000000000855786092", namespace="default", room="r2", event="_OnRoomLeft"),
        id="v19-js-leave-all",
    ),
    pytest.param(
        T,
        b"1795714302859016967;default;;question;0;0;fine, thanks",
        _msg(wait="1795714302859016967", namespace="default", event="question", body=b"fine, thanks"),
        id="v21-client-answers-server-ask",
    ),
    pytest.param(T, b"1795714303461303401;;;;;;", _msg(wait="1795714303461303401"), id="v22-join-accepted"),
    pytest.param(T, b"1795714303662731740;;;;;;", _msg(wait="1795714303662731740"), id="v23-leave-accepted"),
    pytest.param(
        T, b"1795714386481619119;;;;;;", _msg(wait="1795714386481619119"), id="v24-connect-accepted"
    ),
    pytest.param(
        T, b"1795714304165892327;;;;;;", _msg(wait="1795714304165892327"), id="v25-disconnect-accepted"
    ),
    pytest.param(
        T,
        b"$362000000000663655077;semi@%!semicolon@%!ns;;_OnNamespaceDisconnect;0;0;",
        _msg(wait="$362000000000663655077", namespace="semi;ns", event="_OnNamespaceDisconnect"),
        id="v26-disconnect-escaped-ns",
    ),
    pytest.param(
        B,
        b";default;;echo;0;0;hi;\x00\xff",
        _msg(namespace="default", event="echo", body=b"hi;\x00\xff", is_binary=True),
        id="v27-binary-emit",
    ),
    pytest.param(
        T,
        b"111;undeclared;;_OnNamespaceConnect;0;0;",
        _msg(wait="111", namespace="undeclared", event="_OnNamespaceConnect"),
        id="v31-server-connect-request",
    ),
    pytest.param(
        T,
        b"$9;default;;echo;0;1;noop",
        _msg(wait="$9", namespace="default", event="echo", body=b"noop", is_noop=True),
        id="v32-noop-user-event",
    ),
    pytest.param(
        T,
        b"$10;default;;_OnNamespaceConnect;0;1;",
        _msg(wait="$10", namespace="default", event="_OnNamespaceConnect", is_noop=True),
        id="v33-noop-connect",
    ),
    pytest.param(
        T,
        b"$1;default;;echo;1;0;",
        _msg(wait="$1", namespace="default", event="echo"),
        id="v34-error-flag-without-text-is-success",
    ),
    pytest.param(
        T,
        b"neffos(0x8c0e6b6e-7a51-4c0b-9c55-0b8a4e0f1d2a(conn-10xc0001a2b40));default;;chat;0;0;hi",
        _msg(
            wait="neffos(0x8c0e6b6e-7a51-4c0b-9c55-0b8a4e0f1d2a(conn-10xc0001a2b40))",
            namespace="default",
            event="chat",
            body=b"hi",
        ),
        id="v36-bus-id-is-an-opaque-token",
    ),
    pytest.param(
        T,
        b"0;default;room1;_OnNamespaceConnect;0;0;",
        _msg(wait="0", namespace="default", room="room1", event="_OnNamespaceConnect"),
        id="extra-room-on-connect",
    ),
    pytest.param(
        T,
        b";contains@%!semicolon@%!semi;@%!semicolon@%!this@%!semicolon@%!for sure@%!semicolon@%!;"
        b"thatdoesnot;0;0;",
        _msg(namespace="contains;semi", room=";this;for sure;", event="thatdoesnot"),
        id="extra-escapes-everywhere",
    ),
    # Error replies a client receives (decoded by our Python client).
    pytest.param(
        T,
        b"$362000000000659958278;forbidden;;_OnNamespaceConnect;1;0;not allowed",
        _msg(
            wait="$362000000000659958278",
            namespace="forbidden",
            event="_OnNamespaceConnect",
            err="not allowed",
        ),
        id="v07-decoded-refusal",
    ),
    pytest.param(
        T,
        b"$359000000000343874382;default;;fail;1;0;custom; failure",
        _msg(wait="$359000000000343874382", namespace="default", event="fail", err="custom; failure"),
        id="v12-decoded-error-with-semicolon",
    ),
    pytest.param(
        B,
        b";default;;pushedbin;0;0;\x00\x01;\xff",
        _msg(namespace="default", event="pushedbin", body=b"\x00\x01;\xff", is_binary=True),
        id="v28-decoded-binary-push",
    ),
]


@pytest.mark.parametrize(("kind", "frame", "expected"), DECODED)
def test_decode_vector_gives_exact_fields(kind: str, frame: bytes, expected: dict[str, object]) -> None:
    assert _fields(_decode(kind, frame)) == expected


# -- frames the server sends: encode and compare every byte --------------------

ENCODED = [
    pytest.param(
        empty_reply("$359000000000138279427"), T, b"$359000000000138279427;;;;;;", id="v05-connect-accepted"
    ),
    pytest.param(
        encode_fields(
            "$362000000000659958278", "forbidden", "", "_OnNamespaceConnect", b"", err="not allowed"
        ),
        T,
        b"$362000000000659958278;forbidden;;_OnNamespaceConnect;1;0;not allowed",
        id="v07-connect-refused",
    ),
    pytest.param(
        encode_fields("$362000000000661399448", "nope", "", "_OnNamespaceConnect", b"", err="bad namespace"),
        T,
        b"$362000000000661399448;nope;;_OnNamespaceConnect;1;0;bad namespace",
        id="v08-bad-namespace",
    ),
    pytest.param(
        encode(Message("default", "chat", b"hello; world")),
        T,
        b";default;;chat;0;0;hello; world",
        id="v09-broadcast-body-with-semicolon",
    ),
    pytest.param(
        encode_fields("$359000000000341927541", "default", "", "echo", b"ping;1"),
        T,
        b"$359000000000341927541;default;;echo;0;0;ping;1",
        id="v11-reply",
    ),
    pytest.param(
        encode_fields("$359000000000343874382", "default", "", "fail", b"", err="custom; failure"),
        T,
        b"$359000000000343874382;default;;fail;1;0;custom; failure",
        id="v12-error-reply",
    ),
    pytest.param(
        encode_fields("$359000000000344696001", "default", "", "badns", b"", err="bad namespace"),
        T,
        b"$359000000000344696001;default;;badns;1;0;bad namespace",
        id="v13-known-error",
    ),
    pytest.param(
        encode_fields("", "default", "", "fail", b"", err="custom; failure"),
        T,
        b";default;;fail;1;0;custom; failure",
        id="v14-error-to-an-emit",
    ),
    pytest.param(
        empty_reply("$360000000000449529336"), T, b"$360000000000449529336;;;;;;", id="v16-join-accepted"
    ),
    pytest.param(
        encode(Message("default", "chat", b"to room", room="room;1")),
        T,
        b";default;room@%!semicolon@%!1;chat;0;0;to room",
        id="v17-room-broadcast",
    ),
    pytest.param(
        empty_reply("$360000000000652598812"), T, b"$360000000000652598812;;;;;;", id="v18-leave-accepted"
    ),
    pytest.param(
        encode_fields("1795714302859016967", "default", "", "question", b"how are you?"),
        T,
        b"1795714302859016967;default;;question;0;0;how are you?",
        id="v20-server-ask",
    ),
    pytest.param(
        encode_fields("1795714303461303401", "default", "srvroom", "_OnRoomJoin", b""),
        T,
        b"1795714303461303401;default;srvroom;_OnRoomJoin;0;0;",
        id="v22-server-join",
    ),
    pytest.param(
        encode_fields("1795714303662731740", "default", "srvroom", "_OnRoomLeave", b""),
        T,
        b"1795714303662731740;default;srvroom;_OnRoomLeave;0;0;",
        id="v23-server-leave",
    ),
    pytest.param(
        encode_fields("1795714386481619119", "default", "", "_OnNamespaceConnect", b""),
        T,
        b"1795714386481619119;default;;_OnNamespaceConnect;0;0;",
        id="v24-server-connect",
    ),
    pytest.param(
        encode_fields("1795714304165892327", "default", "", "_OnNamespaceDisconnect", b""),
        T,
        b"1795714304165892327;default;;_OnNamespaceDisconnect;0;0;",
        id="v25-server-disconnect",
    ),
    pytest.param(
        empty_reply("$362000000000663655077"),
        T,
        b"$362000000000663655077;;;;;;",
        id="v26-disconnect-accepted",
    ),
    pytest.param(
        encode(Message("default", "echo", b"hi;\x00\xff", is_binary=True)),
        B,
        b";default;;echo;0;0;hi;\x00\xff",
        id="v27-binary-reply",
    ),
    pytest.param(
        encode_fields("", "default", "", "pushedbin", b"\x00\x01;\xff", binary=True),
        B,
        b";default;;pushedbin;0;0;\x00\x01;\xff",
        id="v28-emit-binary",
    ),
    pytest.param(
        encode(Message("", "_OnNativeMessage", b"seven-field native")),
        T,
        b";;;_OnNativeMessage;0;0;seven-field native",
        id="v29-native-for-a-handshaken-peer",
    ),
    pytest.param(encode_native(b"native-echo:raw hello"), T, b"native-echo:raw hello", id="v30-raw-native"),
    pytest.param(
        encode_fields("111", "undeclared", "", "_OnNamespaceConnect", b"", err="bad namespace"),
        T,
        b"111;undeclared;;_OnNamespaceConnect;1;0;bad namespace",
        id="v31-client-refuses-undeclared",
    ),
    pytest.param(
        encode_fields("$9", "default", "", "echo", b"noop"),
        T,
        b"$9;default;;echo;0;0;noop",
        id="v32-reply-never-echoes-noop",
    ),
]


@pytest.mark.parametrize(("frame", "kind", "expected"), ENCODED)
def test_encode_vector_gives_exact_bytes(frame: Frame, kind: str, expected: bytes) -> None:
    assert (frame.payload, "T" if frame.text else "B") == (expected, kind)


# -- frames that are not messages ----------------------------------------------

INVALID = [
    pytest.param(T, b"M", id="v01-ack-request"),
    pytest.param(T, b"Aconn-1", id="v02-ack"),
    pytest.param(T, b"Hrejected by server", id="v03-refusal"),
    pytest.param(T, b"raw hello", id="v30-native-without-native-handler"),
    pytest.param(T, b"x;default;;chat;0;0", id="v35-five-separators"),
    pytest.param(T, b"Aspoofed-id", id="v37-spoofed-ack"),
    pytest.param(T, b"default;chat;", id="extra-two-separators"),
    pytest.param(T, b"garbage", id="extra-garbage"),
    pytest.param(T, b"", id="empty-text"),
    pytest.param(B, b"", id="empty-binary"),
    pytest.param(B, b"x;default;;chat;0;0", id="binary-five-separators"),
    pytest.param(B, b"$1;def\xffault;;chat;0;0;body", id="binary-header-not-utf8"),
]


@pytest.mark.parametrize(("kind", "frame"), INVALID)
def test_decode_invalid_frame_gives_none(kind: str, frame: bytes) -> None:
    assert _decode(kind, frame) is None


def test_decode_native_allowed_makes_native_message() -> None:
    assert _fields(_decode(T, b"raw hello", allow_native=True)) == _msg(
        event="_OnNativeMessage", body=b"raw hello", is_native=True
    )


def test_decode_native_binary_keeps_binary_flag() -> None:
    assert _fields(decode(b"\x00\x01raw", allow_native=True)) == _msg(
        event="_OnNativeMessage", body=b"\x00\x01raw", is_native=True, is_binary=True
    )


def test_decode_five_separators_with_native_allowed_is_native_not_a_message() -> None:
    assert _fields(_decode(T, b"x;default;;chat;0;0", allow_native=True)) == _msg(
        event="_OnNativeMessage", body=b"x;default;;chat;0;0", is_native=True
    )


def test_decode_seven_field_text_is_never_native_even_when_allowed() -> None:
    msg = _decode(T, b"raw hello; with semicolons;;;;;;", allow_native=True)
    assert _fields(msg) == _msg(wait="raw hello", namespace=" with semicolons", body=b";")


def test_decode_spoofed_ack_is_not_an_ack_even_when_native_allowed() -> None:
    assert _fields(_decode(T, b"Aspoofed-id", allow_native=True)) == _msg(
        event="_OnNativeMessage", body=b"Aspoofed-id", is_native=True
    )


# -- escaping, empty replies, errors, frame types --------------------------------


def test_escape_replaces_every_semicolon_with_marker() -> None:
    assert escape("a;b;;c") == "a@%!semicolon@%!b@%!semicolon@%!@%!semicolon@%!c"


def test_unescape_restores_every_semicolon() -> None:
    assert unescape("a@%!semicolon@%!b@%!semicolon@%!@%!semicolon@%!c") == "a;b;;c"


def test_escape_name_without_semicolon_is_unchanged() -> None:
    assert escape("plain name") == "plain name"


def test_name_containing_the_marker_cannot_round_trip() -> None:
    # docs/protocol.md#escaping: a literal marker in a name reads back as ";" (Go and neffos.js agree).
    frame = encode(Message("ns" + ESCAPED_SEMICOLON, "ev"))
    assert _fields(decode(frame.payload.decode())) == _msg(namespace="ns;", event="ev")


def test_encode_escapes_namespace_room_and_event_but_not_wait_or_body() -> None:
    frame = encode_fields("$w", "n;s", "r;m", "e;v", b"b;dy")
    assert frame.payload == b"$w;n@%!semicolon@%!s;r@%!semicolon@%!m;e@%!semicolon@%!v;0;0;b;dy"


def test_empty_reply_is_token_and_six_separators_in_text() -> None:
    frame = empty_reply("$42")
    assert (frame.payload, frame.text) == (b"$42;;;;;;", True)


def test_encode_empty_error_text_becomes_error() -> None:
    assert encode_fields("$1", "default", "", "echo", b"", err="").payload == b"$1;default;;echo;1;0;error"


def test_encode_error_ignores_body() -> None:
    frame = encode(Message("default", "echo", b"ignored", err="boom", wait="$1"))
    assert frame.payload == b"$1;default;;echo;1;0;boom"


def test_encode_error_reply_of_text_message_is_text() -> None:
    assert encode_fields("$1", "d", "", "e", b"", err="boom").text is True


def test_encode_invalid_utf8_body_makes_binary_frame() -> None:
    frame = encode(Message("default", "chat", b"\xff\xfe"))
    assert (frame.payload, frame.text) == (b";default;;chat;0;0;\xff\xfe", False)


def test_encode_valid_utf8_body_makes_text_frame() -> None:
    frame = encode(Message("default", "chat", "héllo ✓"))
    assert (frame.payload, frame.text) == (";default;;chat;0;0;héllo ✓".encode(), True)


def test_encode_native_invalid_utf8_makes_binary_frame() -> None:
    assert encode_native(b"\x80").text is False


def test_encode_never_writes_local_only_fields() -> None:
    msg = Message("default", "chat", b"x", to="someone", is_local=True, is_forced=True, is_noop=True)
    assert encode(msg).payload == b";default;;chat;0;0;x"


def test_frame_opcode_is_1_for_text_and_2_for_binary() -> None:
    assert (Frame(b"x", True).opcode, Frame(b"x", False).opcode) == (1, 2)


# -- round trip ------------------------------------------------------------------

names = st.text().filter(lambda s: "@%!" not in s)
"""Names without the marker's lead-in: ``x@%!semicolon`` next to ``;`` cannot round-trip."""
tokens = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127, blacklist_characters=";"))
error_texts = st.text(min_size=1)


@given(wait=tokens, namespace=names, room=names, event=names, body=st.text())
def test_text_message_round_trips(wait: str, namespace: str, room: str, event: str, body: str) -> None:
    msg = Message(namespace, event, body.encode(), room, wait=wait)
    frame = encode(msg)
    assert frame.text is True
    assert decode(frame.payload.decode()) == msg


@given(wait=tokens, namespace=names, room=names, event=names, body=st.binary())
def test_binary_message_round_trips(wait: str, namespace: str, room: str, event: str, body: bytes) -> None:
    msg = Message(namespace, event, body, room, wait=wait, is_binary=True)
    frame = encode(msg)
    assert frame.text is False
    assert decode(frame.payload) == msg


@given(wait=tokens, namespace=names, room=names, event=names, err=error_texts, binary=st.booleans())
def test_error_message_round_trips(
    wait: str, namespace: str, room: str, event: str, err: str, binary: bool
) -> None:
    msg = Message(namespace, event, room=room, err=err, wait=wait, is_binary=binary)
    frame = encode(msg)
    data: str | bytes = frame.payload.decode() if frame.text else frame.payload
    assert decode(data) == msg


@given(body=st.binary())
def test_any_body_gives_text_frame_only_when_utf8(body: bytes) -> None:
    try:
        body.decode()
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    assert encode(Message("d", "e", body)).text is utf8


def test_tokens_recognise_only_the_tokens_they_made() -> None:
    server, client = Tokens(), Tokens("$")
    made = [server.next(), server.next(), client.next()]

    assert made == ["1", "2", "$1"]
    assert [server.issued(t) for t in ("1", "2", "3", "01", "$1", "", "x", "١")] == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    assert [client.issued(t) for t in ("$1", "$2", "1", "$", "$x")] == [True, False, False, False, False]
