"""Counting what a node missed from another, and the warning that says so (no broker needed)."""

from __future__ import annotations

import logging
import time

import pytest

from aioneffos.framework import Message
from aioneffos.framework.scaleout import envelope
from aioneffos.framework.scaleout.envelope import Envelope, EnvelopeKind
from aioneffos.framework.scaleout.numbering import Numbering


def numbered_broadcasts(sender: Numbering, count: int) -> list[Envelope]:
    """*count* broadcasts of node a in namespace chat, numbered as they go to the link."""
    data = envelope.encode(Envelope(EnvelopeKind.PUBLISH, "a", Message(namespace="chat", event="say")))
    return [envelope.decode(sender.stamp("chan.chat", data)) for _ in range(count)]


def test_gaps_are_counted_once_and_a_later_sum_is_logged_on_a_tick(caplog: pytest.LogCaptureFixture) -> None:
    sender = Numbering()
    sender.start("a")
    sent = numbered_broadcasts(sender, 6)
    interval = 0.05
    receiver = Numbering(warn_interval=interval)
    receiver.start("b")
    caplog.set_level(logging.WARNING, logger="aioneffos")

    receiver.received_from(sent[0])
    receiver.received_from(sent[2])  # 1 missed: logged at once
    receiver.received_from(sent[5])  # 2 more, within the interval: summed, not yet logged
    lines = [r.getMessage() for r in caplog.records if "missed by" in r.getMessage()]
    assert receiver.missed == 3
    assert receiver.received == 3
    assert len(lines) == 1
    assert lines[0].startswith("1 message(s) from other nodes missed by node b")

    receiver.flush_warnings()  # a tick within the interval logs nothing
    assert len([r for r in caplog.records if "missed by" in r.getMessage()]) == 1
    time.sleep(interval * 2)
    receiver.flush_warnings()  # the next tick after it logs the sum, though no miss came since
    lines = [r.getMessage() for r in caplog.records if "missed by" in r.getMessage()]
    assert len(lines) == 2
    assert lines[1].startswith("2 message(s) from other nodes missed by node b")
    receiver.flush_warnings()
    assert len([r for r in caplog.records if "missed by" in r.getMessage()]) == 2
