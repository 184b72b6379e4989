"""The link keeper (`BusSession`) and what links share: URLs fit for logs."""

from __future__ import annotations

import pytest

from aioneffos.framework.scaleout.link import redacted_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:secret@redis.local:6379/0", "redis://:***@redis.local:6379/0"),
        ("rediss://app:secret@redis.local/1", "rediss://app:***@redis.local/1"),
        ("nats://s3cr3t-token@nats.local:4222", "nats://***@nats.local:4222"),
        ("tls://user:pw@nats.local", "tls://user:***@nats.local"),
    ],
)
def test_redacted_url_hides_passwords_and_bare_tokens(url: str, shown: str) -> None:
    assert redacted_url(url) == shown
