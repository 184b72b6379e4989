"""The bus envelope: its exact layout, round trips, and what a receiver refuses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aioneffos.framework import Exclusion, Message, Target
from aioneffos.framework.scaleout.envelope import (
    VERSION,
    Channels,
    Envelope,
    EnvelopeKind,
    IncompatibleEnvelopeError,
    channel_token,
    decode,
    encode,
    head_prefix,
    with_sequence,
)


def test_encode_writes_version_byte_json_header_newline_and_raw_body() -> None:
    env = Envelope(
        EnvelopeKind.PUBLISH,
        "node1",
        Message("chat", "say", b"hi;\n\xff", room="lobby", to="u1"),
        Exclusion("node1.7", "u2"),
    )

    assert encode(env) == (
        b'\x01{"k":"pub","o":"node1","ns":"chat","r":"lobby","e":"say","to":"u1",'
        b'"xk":"node1.7","xi":"u2"}\nhi;\n\xff'
    )


def test_encode_leaves_out_empty_fields() -> None:
    assert encode(Envelope(EnvelopeKind.BYE, "n")) == b'\x01{"k":"bye","o":"n"}\n'


def test_decode_round_trips_a_reply_with_error_and_binary_flag() -> None:
    env = Envelope(
        EnvelopeKind.REPLY,
        "node2",
        Message("chat", "poke", b"", err="bad room", is_binary=True),
        token="42",
        asker="node1",
    )

    assert decode(encode(env)) == env


def test_decode_round_trips_close_count_and_ask_fields() -> None:
    close = Envelope(EnvelopeKind.CLOSE, "n", Message(to="u1"), code=4000, reason="kicked")
    count = Envelope(EnvelopeKind.COUNT, "n", token="7", asker="m", count=12)
    ask = Envelope(EnvelopeKind.ASK, "n", Message("chat", "poke", b"x", to="u1"), token="8", ttl_ms=2500)

    assert [decode(encode(e)) for e in (close, count, ask)] == [close, count, ask]


@given(
    namespace=st.text(),
    room=st.text(),
    event=st.text(),
    body=st.binary(),
    binary=st.booleans(),
    exclude_key=st.text(),
    exclude_id=st.text(),
)
def test_decode_round_trips_any_published_message(
    namespace: str, room: str, event: str, body: bytes, binary: bool, exclude_key: str, exclude_id: str
) -> None:
    env = Envelope(
        EnvelopeKind.PUBLISH,
        "origin",
        Message(namespace, event, body, room, is_binary=binary),
        Exclusion(exclude_key, exclude_id),
    )

    assert decode(encode(env)) == env


def test_head_prefix_starts_every_envelope_of_that_kind_and_origin() -> None:
    mine = encode(Envelope(EnvelopeKind.PUBLISH, "node1", Message("chat", "x", b"y")))
    bare = encode(Envelope(EnvelopeKind.PUBLISH, "node1"))
    other = encode(Envelope(EnvelopeKind.PUBLISH, "node12", Message("chat", "x")))

    prefix = head_prefix(EnvelopeKind.PUBLISH, "node1")

    assert (mine.startswith(prefix), other.startswith(prefix), bare.startswith(prefix)) == (
        True,
        False,
        False,
    )


def test_decode_ignores_header_keys_it_does_not_know() -> None:
    data = b'\x01{"k":"pub","o":"n","ns":"chat","e":"chat","future":[1,2]}\nbody'

    assert decode(data) == Envelope(EnvelopeKind.PUBLISH, "n", Message("chat", "chat", b"body"))


def test_decode_refuses_another_version_and_names_it() -> None:
    with pytest.raises(IncompatibleEnvelopeError) as caught:
        decode(b'\x02{"k":"pub","o":"n"}\n')

    assert (str(caught.value), caught.value.version) == (f"envelope version 2, expected {VERSION}", 2)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", "empty envelope"),
        (b'\x01{"k":"pub","o":"n"}', "envelope header has no end"),
        (b"\x01{not json}\n", "envelope header is not JSON"),
        (b"\x01[1]\n", "envelope header is not an object"),
        (b'\x01{"k":"pub"}\n', "envelope without kind or origin"),
        (b'\x01{"k":"pub","o":"n","ns":5}\n', "header 'ns' is not a string"),
        (b'\x01{"k":"count","o":"n","n":"5"}\n', "header 'n' is not an integer"),
        (b"neffos(0x1);chat;;chat;0;0;hi", "envelope version 110, expected 1"),
    ],
)
def test_decode_refuses_what_is_not_a_version_1_envelope(data: bytes, text: str) -> None:
    with pytest.raises(IncompatibleEnvelopeError) as caught:
        decode(data)

    assert str(caught.value).startswith(text)


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("chat", "chat"),
        ("3f2a-9c_X", "3f2a-9c_X"),
        ("", "~"),
        ("a.b", "~612e62"),
        ("*", "~2a"),
        ("é", "~c3a9"),
    ],
)
def test_channel_token_keeps_safe_names_and_hexes_the_rest(name: str, token: str) -> None:
    assert channel_token(name) == token


def test_channels_name_every_destination_under_the_prefix() -> None:
    channels = Channels("app.v1")

    assert [
        channels.name(Target.of_namespace("chat")),
        channels.name(Target.of_room("chat", "a b")),
        channels.name(Target.of_conn("u1")),
        channels.node("n1"),
        channels.all(),
        channels.name(Target.of_message(Message("chat", "x", room="r", to="u2"))),
        channels.name(Target.of_message(Message("chat", "x", room="r"))),
        channels.name(Target.of_message(Message("", "x"))),
    ] == [
        "app.v1.ns.chat",
        "app.v1.room.chat.~612062",
        "app.v1.id.u1",
        "app.v1.node.n1",
        "app.v1.all",
        "app.v1.id.u2",
        "app.v1.room.chat.r",
        "app.v1.ns.~",
    ]


@pytest.mark.parametrize("prefix", ["", "a..b", "a b", "a.*", ".a"])
def test_channels_refuse_a_prefix_that_is_not_dotted_words(prefix: str) -> None:
    with pytest.raises(ValueError, match="channel prefix must be"):
        Channels(prefix)


def test_with_sequence_numbers_an_envelope_right_after_its_sender() -> None:
    full = encode(Envelope(EnvelopeKind.PUBLISH, "n1", Message("chat", "say", b"hi")))
    bare = encode(Envelope(EnvelopeKind.CLOSE, "n1"))

    numbered = with_sequence(full, head_prefix(EnvelopeKind.PUBLISH, "n1"), 2, 7)
    numbered_bare = with_sequence(bare, head_prefix(EnvelopeKind.CLOSE, "n1"), 1, 1)

    assert numbered == b'\x01{"k":"pub","o":"n1","ep":2,"s":7,"ns":"chat","e":"say"}\nhi'
    assert numbered_bare == b'\x01{"k":"close","o":"n1","ep":1,"s":1}\n'
    assert (decode(numbered).epoch, decode(numbered).seq, decode(numbered).message.body) == (2, 7, b"hi")


@given(text=st.text(), count=st.integers(min_value=0, max_value=2**70))
def test_encode_writes_the_header_json_dumps_writes_in_ascii(text: str, count: int) -> None:
    env = Envelope(EnvelopeKind.REPLY, "n", Message(text, text, b"", text, err=text, to=text), count=count)
    data = encode(env)
    header = data[1 : data.index(b"\n")]
    expected = {"k": "rep", "o": "n", "ns": text, "r": text, "e": text, "to": text, "err": text, "n": count}
    expected = {key: value for key, value in expected.items() if value != "" or key == "err"}
    if not count:
        del expected["n"]

    assert header == json.dumps(expected, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("header", "decoded"),
    [
        ('{"k":"pub","o":"n","x":NaN}', Envelope(EnvelopeKind.PUBLISH, "n")),
        ('{"k":"pub","o":"n","ns":1,"ns":"chat"}', Envelope(EnvelopeKind.PUBLISH, "n", Message("chat"))),
        ('{"k":"rep","o":"n","bin":"yes"}', Envelope(EnvelopeKind.REPLY, "n", Message(is_binary=True))),
        ('{"k":"rep","o":"n","err":null}', "header 'err' is not a string"),
        ('{"k":"count","o":"n","n":true}', "header 'n' is not an integer"),
        ('{"k":"count","o":"n","n":1.0}', "header 'n' is not an integer"),
    ],
)
def test_decode_reads_odd_headers_as_the_json_module_does(header: str, decoded: Envelope | str) -> None:
    data = b"\x01" + header.encode() + b"\n"
    if isinstance(decoded, str):
        with pytest.raises(IncompatibleEnvelopeError, match=decoded):
            decode(data)
    else:
        assert decode(data) == decoded
