"""Runnable aioneffos samples: ``python -m samples.<name> --port N`` from the repository root."""

from __future__ import annotations

import sys

try:  # what every sample needs; a Python without them gets a hint, not a bare traceback
    import aiohttp  # noqa: F401

    import aioneffos.framework  # noqa: F401
except ModuleNotFoundError as missing:
    sys.exit(
        f"{sys.executable} has no module {missing.name!r}: the samples run in the repository's .venv. "
        "Run `make demo` once (it sets up .venv, then starts the chat), "
        "then `.venv/bin/python -m samples.<name>`."
    )
