"""Fixtures of the neffos.js compatibility suite: one Node driver per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from compat.node_client import NodeDriver, require_node
from compat.server_probe import TIMEOUT, Probe


@pytest.fixture
async def driver() -> AsyncIterator[NodeDriver]:
    """A running ``driver.mjs`` with the pinned neffos.js; skips (or fails on CI) without Node."""
    require_node()
    async with NodeDriver.start(default_timeout=TIMEOUT) as drv:
        yield drv


@pytest.fixture
def probe() -> Probe:
    """Records the server-side handler calls of one test."""
    return Probe()
