"""Run the official AsyncAPI parser (``@asyncapi/parser`` under Node) on generated documents.

``asyncapi_parser.mjs`` parses each document and reports the parser's diagnostics and
what its own model API reads from the document; a missing Node or npm package skips the
calling test locally and fails it under ``CI=true``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from support.tools import REPO_ROOT, require

SCRIPT = Path(__file__).resolve().with_name("asyncapi_parser.mjs")
PACKAGES = {"@asyncapi/parser": "3.6.6", "js-yaml": "4.3.2"}
"""The npm packages the script imports, as package.json pins them."""
MIN_NODE_MAJOR = 18
ALLOWED = {"asyncapi-latest-version"}
"""Diagnostics that are no defect: an information that AsyncAPI 3.1 exists (we write 3.0, as asked)."""


def unavailable_reason() -> str | None:
    """Why the parser cannot run here, or None when it can."""
    node = shutil.which("node")
    if node is None:
        return "`node` is not on PATH (apt-get install nodejs npm)"
    for name, version in PACKAGES.items():
        manifest = REPO_ROOT / "node_modules" / name / "package.json"
        if not manifest.is_file():
            return f"{manifest} is missing; run `npm ci` in {REPO_ROOT}"
        found = json.loads(manifest.read_text()).get("version")
        if found != version:
            return f"node_modules has {name} {found}, expected {version}; run `npm ci`"
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout
    match = re.match(r"v(\d+)\.", out.strip())
    if match is None or int(match.group(1)) < MIN_NODE_MAJOR:
        return f"node {out.strip()} is too old; need >= {MIN_NODE_MAJOR}"
    return None


def parse(documents: Mapping[str, str]) -> dict[str, Any]:
    """Parse each document text (JSON or YAML) by name; give the script's report by name."""
    require(unavailable_reason())
    proc = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(dict(documents)),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    if proc.returncode != 0:
        raise AssertionError(f"asyncapi_parser.mjs failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def problems(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Give the diagnostics of one document's report, the allowed information left out."""
    return [item for item in report["diagnostics"] if item["code"] not in ALLOWED]


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index the parser's channels, operations or messages by id."""
    return {item["id"]: item for item in items}


def plain(schema: Any) -> Any:
    """Drop the ``x-parser-schema-id`` the parser adds to every schema it read."""
    if isinstance(schema, dict):
        return {key: plain(value) for key, value in schema.items() if key != "x-parser-schema-id"}
    if isinstance(schema, list):
        return [plain(item) for item in schema]
    return schema
