"""Fixtures of the DI suite (shared with the controller suite, see `tests.controllers.harness`)."""

from __future__ import annotations

from tests.controllers.harness import serve_mvc
from tests.framework.conftest import clients

__all__ = ["clients", "serve_mvc"]
