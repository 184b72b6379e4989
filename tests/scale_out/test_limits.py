"""Limits of the bus on three real nodes: what is too large for the broker, and what is too much at once.

Each test gets its own broker (Redis and NATS) and three ``python -m samples.scale_out``
nodes. A message over the broker's limit is refused where it is published, with an
error to the asking client and a warning in the node's log, and never resets the link
(messages queued around it still cross); a client's burst of 15,000 ``to=`` sends is
slowed down by backpressure instead of losing what does not fit in the queue.
"""

from __future__ import annotations

import pytest

from aioneffos.framework import RemoteError
from tests.scale_out.conftest import OpenChat, StartNodes
from tests.scale_out.processes import Broker

pytestmark = pytest.mark.broker

FRAME = 1_048_500
"""A client frame just under the server's max_message_size (1 MiB): the server accepts it."""
PREFIX = ";chat;;chat;0;0;"
"""An emitted ``chat`` event before its body (no wait token)."""
BIG = {"max_message_size": 2 << 20}
"""Clients that may receive a chat line of 1 MiB (it is larger than 1 MiB once wrapped in JSON)."""


async def test_a_client_message_over_the_broker_limit_is_refused_and_the_link_is_never_reset(
    start_nodes: StartNodes, chat: OpenChat, broker: Broker
) -> None:
    a, b, _ = await start_nodes(3)
    alice, carol, bob = await chat(a, **BIG), await chat(a, **BIG), await chat(b, **BIG)
    text = "x" * (FRAME - len(PREFIX))
    assert len((PREFIX + text).encode()) == FRAME

    for i in range(50):
        carol.ns.emit("chat", f"before {i}")
    refused: RemoteError | None = None
    try:
        await alice.ns.ask("chat", text)  # an ask: the client gets the error reply
    except RemoteError as exc:
        refused = exc
    alice.ns.emit("chat", text)  # an emit: nobody to answer, so the node logs it
    for i in range(50):
        carol.ns.emit("chat", f"after {i}")
    carol.ns.emit("chat", "end")
    alice.ns.emit("chat", "done")  # after Alice's emit on her connection, so after it on the bus

    from_carol: list[str] = []
    from_alice: list[str] = []
    while "end" not in from_carol or "done" not in from_alice:
        got = await bob.next_json("chat")
        (from_alice if got["from"] == alice.id else from_carol).append(got["text"])
    from_carol.remove("end")
    from_alice.remove("done")
    assert from_carol == [f"before {i}" for i in range(50)] + [f"after {i}" for i in range(50)]
    assert all(line == text for line in from_alice)
    if broker.kind == "nats":
        # NATS takes at most 1 MiB (its max_payload): the envelope is a little larger.
        assert refused is not None
        assert "is over the 1048576-byte limit of broker nats://127.0.0.1:" in refused.text
        assert refused.text.endswith("(max_payload): sent to no one")
        assert from_alice == []
        await a.out.wait_for(
            r"1 message\(s\) refused since the last such line: a message of \d+ bytes over the"
            r" 1048576-byte limit"
        )
    else:
        # Redis: the exchange's limit is 8 MiB by default, so both crossed.
        assert (refused, len(from_alice)) == (None, 2)
    # Carol, on Alice's node, got Alice's "done" and, on NATS, nothing else: a refused
    # message is delivered to no one, on its own node neither.
    carol_got = [(await carol.next_json("chat"))["text"]]
    while carol_got[-1] != "done":
        carol_got.append((await carol.next_json("chat"))["text"])
    assert carol_got == (["done"] if broker.kind == "nats" else [text, text, "done"])
    assert (await carol.ask_text("health")) == "up"
    assert not [line for line in a.out.lines if "LOST" in line]


async def test_a_burst_of_15000_to_sends_all_reach_a_client_on_another_node(
    start_nodes: StartNodes, chat: OpenChat, broker: Broker
) -> None:
    a, b, _ = await start_nodes(3)
    alice = await chat(a, outbound_queue_size=20_000)
    bob = await chat(b)

    for i in range(15_000):
        alice.ns.emit("whisper", {"to": bob.id, "text": f"w{i}"})

    for i in range(15_000):
        assert (await bob.next_json("whisper"))["text"] == f"w{i}"
    assert (await alice.ask_text("health")) == "up"
    assert not [line for line in a.out.lines if "dropped by" in line or "LOST" in line]
