"""Fixtures of the sample tests: each sample runs as its own process, as a user starts it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from compat.node_client import NodeDriver, require_node
from support.sample_process import start_module, start_sample

__all__ = ["driver", "start_module", "start_sample"]


@pytest.fixture
async def driver() -> AsyncIterator[NodeDriver]:
    """The real neffos.js under Node (what the sample pages run); skips (fails on CI) without Node."""
    require_node()
    async with NodeDriver.start() as drv:
        yield drv


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of this folder that drive neffos.js ``compat`` (select them with ``-m compat``)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and "driver" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.compat)
