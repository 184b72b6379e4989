"""Fixtures of the controller suite (see `tests.controllers.harness`)."""

from __future__ import annotations

from tests.controllers.harness import clients, serve_mvc

__all__ = ["clients", "serve_mvc"]
