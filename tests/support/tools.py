"""Finding the external tools some tests need: skip locally when missing, fail under CI."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def under_ci() -> bool:
    """Tell whether the suite runs under CI (``CI=true``), where nothing may be skipped."""
    return os.environ.get("CI", "").lower() == "true"


def require(reason: str | None) -> None:
    """Skip the test with *reason*, or fail it under CI; do nothing when *reason* is None."""
    if reason is None:
        return
    if under_ci():
        pytest.fail(f"{reason} (CI=true: a missing tool is a failure, not a skip)")
    pytest.skip(reason)


def find_binary(name: str, *extra_dirs: str) -> str | None:
    """Find executable *name* on PATH or in *extra_dirs* (Debian puts some daemons in /usr/sbin)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in (*extra_dirs, "/usr/sbin", "/usr/local/sbin"):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_binary(name: str, hint: str) -> str:
    """Return the path of binary *name*, or skip/fail with *hint* on how to install it."""
    path = find_binary(name)
    require(None if path else f"{name} not found ({hint})")
    assert path is not None
    return path


def free_port() -> int:
    """Give a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
