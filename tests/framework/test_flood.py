"""Flood control: per-connection message and byte rates (token buckets); others keep being served."""

from __future__ import annotations

import pytest

from aioneffos.framework import Message, NSConn, Options, Server
from aioneffos.framework.limits import RateLimiter, TokenBucket, Verdict
from support.peers import RawPeer
from support.serving import RawConnect, Serve


async def echo(ns: NSConn, msg: Message) -> bytes:
    return msg.body


async def ask_back(ns: NSConn, msg: Message) -> str:
    return (await ns.ask("question")).text


def flood_server(**options: object) -> Server:
    return Server({"default": {"echo": echo, "ask_back": ask_back}}, **options)


async def connected(url: str, raw: RawConnect) -> RawPeer:
    peer = await raw(url)
    await peer.connect("default")
    return peer


# -- the buckets on their own (explicit clock) -----------------------------------------------


def test_token_bucket_admits_a_burst_then_refuses_then_closes() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0)
    start = 1_000_000.0  # past its creation: the bucket starts full
    verdicts = [bucket.spend(1.0, start) for _ in range(5)]
    assert verdicts == [Verdict.ADMIT, Verdict.ADMIT, Verdict.REFUSE, Verdict.REFUSE, Verdict.CLOSE]


def test_token_bucket_refills_at_its_rate_and_refused_messages_count() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0)
    start = 1_000_000.0
    assert [bucket.spend(1.0, start) for _ in range(3)] == [Verdict.ADMIT, Verdict.ADMIT, Verdict.REFUSE]
    # The refused one is owed: after 0.5 s (one token) the balance is back at 0, so one passes.
    assert bucket.spend(1.0, start + 1.0) is Verdict.ADMIT
    assert bucket.spend(1.0, start + 1.0) is Verdict.REFUSE
    assert bucket.spend(1.0, start + 60.0) is Verdict.ADMIT  # never more than the burst saved up
    assert bucket.spend(2.0, start + 60.0) is Verdict.REFUSE


def test_rate_limiter_byte_burst_lets_one_largest_message_through() -> None:
    limiter = RateLimiter(None, byte_rate=100.0, largest=1000)
    assert [limiter.admit(1000), limiter.admit(1)] == [Verdict.ADMIT, Verdict.REFUSE]


def test_rate_options_reject_zero() -> None:
    with pytest.raises(ValueError, match="max_messages_per_second must be > 0 or None"):
        Options(max_messages_per_second=0)


# -- over a socket ------------------------------------------------------------------------------


async def test_message_rate_refuses_asks_drops_emits_then_closes_1008(serve: Serve, raw: RawConnect) -> None:
    url = await serve(flood_server(max_messages_per_second=2))
    other = await connected(url, raw)  # the connect counted against its own budget: 1 left
    peer = await connected(url, raw)
    peer_tokens = [peer.token() for _ in range(2)]
    await peer.send(f"{peer_tokens[0]};default;;echo;0;0;one")
    assert await peer.recv() == f"{peer_tokens[0]};default;;echo;0;0;one"
    await peer.send(";default;;echo;0;0;emit over the limit")  # dropped: no echo comes back
    await peer.send(f"{peer_tokens[1]};default;;echo;0;0;two")
    assert await peer.recv() == f"{peer_tokens[1]};default;;echo;1;0;rate limit exceeded"
    await peer.send("$three;default;;echo;0;0;three")  # a whole burst past the rate
    assert await peer.recv_close() == (1008, "rate limit exceeded")
    assert await other.ask("default", "echo", "served") == "$raw2;default;;echo;0;0;served"


async def test_byte_rate_refuses_then_closes_1008(serve: Serve, raw: RawConnect) -> None:
    # The burst is one largest message (1000 bytes), refilled at 100 bytes a second.
    url = await serve(flood_server(max_bytes_per_second=100, max_message_size=1000))
    peer = await raw(url)
    await peer.connect("default")  # 37 bytes
    body = "x" * 700  # 722-byte frames: 241 bytes left, then -481 (refused), then -1203 (closed)
    await peer.send(f"$a;default;;echo;0;0;{body}")
    assert await peer.recv() == f"$a;default;;echo;0;0;{body}"
    await peer.send(f"$b;default;;echo;0;0;{body}")
    assert await peer.recv() == "$b;default;;echo;1;0;rate limit exceeded"
    await peer.send(f"$c;default;;echo;0;0;{body}")
    assert await peer.recv_close() == (1008, "rate limit exceeded")


async def test_replies_to_the_servers_asks_are_not_counted(serve: Serve, raw: RawConnect) -> None:
    url = await serve(flood_server(max_messages_per_second=2))
    peer = await connected(url, raw)  # one message left in the burst
    await peer.send("$b;default;;ask_back;0;0;")
    question = await peer.recv()
    assert isinstance(question, str)
    await peer.send(question.split(";")[0] + ";default;;question;0;0;answer")  # a reply: free
    assert await peer.recv() == "$b;default;;ask_back;0;0;answer"
    assert await peer.ask("default", "echo", "x") == "$raw2;default;;echo;1;0;rate limit exceeded"


async def test_no_rate_limit_by_default(serve: Serve, raw: RawConnect) -> None:
    peer = await connected(await serve(flood_server()), raw)
    for i in range(500):
        await peer.send(f"$f{i};default;;echo;0;0;{i}")
    assert [await peer.recv() for _ in range(500)] == [f"$f{i};default;;echo;0;0;{i}" for i in range(500)]
