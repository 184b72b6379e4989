"""`Message`, `Reply`, body conversion, the error tree and `Options`."""

from __future__ import annotations

import attrs
import pytest

from aioneffos.framework import (
    AskTimeoutError,
    BadNamespaceError,
    BadRoomError,
    InvalidPayloadError,
    Message,
    NeffosError,
    Options,
    RemoteError,
    Reply,
    Store,
    WriteClosedError,
)
from aioneffos.framework.errors import error_text, resolve_remote_error
from aioneffos.framework.message import as_body, reply_body


@attrs.frozen
class Point:
    x: int
    y: int


def test_message_body_str_is_stored_as_utf8_bytes() -> None:
    assert Message("d", "e", "héllo").body == "héllo".encode()


def test_message_body_bytearray_is_stored_as_bytes() -> None:
    assert Message("d", "e", bytearray(b"ab")).body == b"ab"


def test_message_text_replaces_invalid_utf8() -> None:
    assert Message("d", "e", b"a\xffb").text == "a\ufffdb"


def test_message_json_decodes_body() -> None:
    assert Message("d", "e", b'{"a":[1,2]}').json() == {"a": [1, 2]}


def test_message_json_of_non_json_raises_value_error() -> None:
    with pytest.raises(ValueError, match="Expecting value"):
        Message("d", "e", b"not json").json()


def test_message_is_error_follows_err() -> None:
    assert (Message(err="x").is_error, Message(err=None).is_error) == (True, False)


def test_message_evolve_changes_only_given_fields() -> None:
    msg = Message("d", "e", b"b", wait="$1")
    assert msg.evolve(wait="") == Message("d", "e", b"b")


def test_message_is_a_value_equal_by_its_fields() -> None:
    assert Message("d", "e", b"b", wait="$1") == Message("d", "e", "b", wait="$1")
    assert Message("d", "e", b"b") != Message("d", "e", b"b", room="r")


def test_message_evolve_leaves_the_original_unchanged() -> None:
    original = Message("d", "e", b"b", wait="$1")

    changed = original.evolve(wait="", body=b"c")

    assert (original.wait, original.body) == ("$1", b"b")
    assert (changed.wait, changed.body, changed.event) == ("", b"c", "e")


def test_message_repr_shows_set_fields_only() -> None:
    assert repr(Message("d", "e", b"b", wait="$1", is_binary=True)) == (
        "Message(namespace='d', event='e', wait='$1', body=b'b', is_binary=True)"
    )


def test_as_body_turns_attrs_value_into_compact_json() -> None:
    assert as_body(Point(1, 2)) == b'{"x":1,"y":2}'


def test_as_body_turns_dict_into_compact_json() -> None:
    assert as_body({"a": [1, True, None]}) == b'{"a":[1,true,null]}'


def test_as_body_none_is_empty() -> None:
    assert as_body(None) == b""


def test_as_body_of_unsupported_type_raises_type_error() -> None:
    with pytest.raises(TypeError, match="cannot send a object as a message body"):
        as_body(object())


def test_reply_body_none_means_no_reply() -> None:
    assert reply_body(None) is None


def test_reply_body_of_empty_reply_is_empty_bytes() -> None:
    assert reply_body(Reply()) == b""


def test_reply_body_of_reply_value_is_its_body() -> None:
    assert reply_body(Reply("ok")) == b"ok"


def test_reply_body_of_plain_value_is_converted() -> None:
    assert reply_body(Point(3, 4)) == b'{"x":3,"y":4}'


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("bad namespace", BadNamespaceError),
        ("bad room", BadRoomError),
        ("write closed", WriteClosedError),
        ("invalid payload", InvalidPayloadError),
    ],
)
def test_resolve_remote_error_gives_known_type_with_same_text(text: str, kind: type[NeffosError]) -> None:
    error = resolve_remote_error(text)
    assert (type(error), str(error)) == (kind, text)


def test_resolve_remote_error_unknown_text_gives_remote_error() -> None:
    error = resolve_remote_error("custom; failure")
    assert isinstance(error, RemoteError)
    assert error.text == "custom; failure"


def test_error_text_of_exception_is_its_message() -> None:
    assert error_text(ValueError("nope")) == "nope"


def test_error_text_of_empty_exception_is_its_class_name() -> None:
    assert error_text(KeyError()) == "KeyError"


def test_errors_inherit_matching_builtins() -> None:
    assert issubclass(BadNamespaceError, LookupError)
    assert issubclass(AskTimeoutError, TimeoutError)
    assert issubclass(WriteClosedError, ConnectionError)


def test_store_increment_treats_missing_and_non_int_as_zero() -> None:
    store = Store(text="x")
    assert (store.increment("n"), store.increment("n"), store.increment("text")) == (1, 2, 1)


def test_store_decrement_counts_down_below_zero() -> None:
    store = Store()
    assert (store.decrement("n"), store.decrement("n", 2)) == (-1, -3)


def test_options_defaults_match_the_brief() -> None:
    opts = Options()
    assert (
        opts.max_message_size,
        opts.handshake_timeout,
        opts.ask_timeout,
        opts.outbound_queue_size,
        opts.inbound_backlog_size,
        opts.ping_interval,
        opts.read_timeout,
        opts.close_timeout,
        opts.reply_to_unanswered_asks,
    ) == (1 << 20, 15.0, 10.0, 1024, 256, 25.0, None, 5.0, True)


def test_options_defaults_of_an_exposed_server() -> None:
    opts = Options()
    assert (
        opts.outbound_queue_bytes,
        opts.inbound_backlog_bytes,
        opts.allowed_origins,
        opts.max_connections,
        opts.max_rooms_per_connection,
        opts.max_name_length,
        opts.max_messages_per_second,
        opts.max_bytes_per_second,
        opts.handler_timeout,
        opts.cancel_handlers_on_close,
    ) == (4 << 20, 4 << 20, (), None, 256, 256, None, None, None, False)


def test_options_reject_non_positive_limit() -> None:
    with pytest.raises(ValueError, match="max_message_size"):
        Options(max_message_size=0)


def test_options_reject_non_positive_optional_timeout() -> None:
    with pytest.raises(ValueError, match="read_timeout must be > 0 or None, got 0"):
        Options(read_timeout=0)
