"""docs/protocol.md: every ``docs/protocol.md#<anchor>`` cited in the repository resolves, and
nothing cites the research notes (or their decision numbers) that are not in the repository."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.tools import REPO_ROOT

DOC = REPO_ROOT / "docs" / "protocol.md"
SKIPPED_DIRS = {".git", ".venv", "node_modules", "build", "test-artifacts", "__pycache__"}
TEXT_SUFFIXES = {".py", ".md", ".html", ".js", ".mjs", ".ts", ".toml", ".cfg", ".ini", ".sh", ".yml", ".yaml"}

CITATION = re.compile(r"docs/protocol\.md#([A-Za-z0-9_-]+)")
INTERNAL_LINK = re.compile(r"\]\(#([A-Za-z0-9_-]+)\)")
EXPLICIT_ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
RESEARCH_NOTES = "PROTOCOL" + ".md"  # spelled apart so this file does not cite it
DECISION_TAG = re.compile(r"\bD([0-9]{1,2})\b")

PENDING = {
    "framework/conn.py",
    "framework/dispatch.py",
    "framework/ns_conn.py",
    "framework/outbox.py",
    "framework/protocol.py",
    "framework/server.py",
}
"""Session-core modules whose comments still cite decisions by number: they were being
rewritten (issue 8) when the document landed, and move to anchors in the second half of
issue 12. Remove a module from here once its comments link to the document."""


def repository_files() -> Iterator[Path]:
    """Give every text file of the checkout (not virtualenvs, packages or build output)."""
    for path in sorted(REPO_ROOT.rglob("*")):
        relative = path.relative_to(REPO_ROOT)
        if SKIPPED_DIRS.intersection(relative.parts) or any(p.endswith(".egg-info") for p in relative.parts):
            continue
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name == "Makefile"):
            yield path


def slug(heading: str) -> str:
    """Give the anchor GitHub makes of a heading: lower case, punctuation dropped, spaces to ``-``."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> list[str]:
    """Give every anchor of *text*: explicit ``<a id>`` ones and heading slugs."""
    return EXPLICIT_ANCHOR.findall(text) + [slug(h) for h in HEADING.findall(text)]


def name(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def test_slug_follows_github_heading_anchors() -> None:
    assert [slug("Where this differs from neffos's StackExchange"), slug("Decided: how `M` works")] == [
        "where-this-differs-from-neffoss-stackexchange",
        "decided-how-m-works",
    ]


def test_every_explicit_anchor_of_the_document_is_unique() -> None:
    ids = EXPLICIT_ANCHOR.findall(DOC.read_text())

    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


def test_every_cited_anchor_exists_in_the_document() -> None:
    known = set(anchors(DOC.read_text()))
    cited: list[tuple[str, str]] = []
    for path in repository_files():
        text = path.read_text(errors="replace")
        cited += [(name(path), anchor) for anchor in CITATION.findall(text)]
        if path == DOC:
            cited += [(name(path), anchor) for anchor in INTERNAL_LINK.findall(text)]

    assert len(cited) > 20  # the code, tests and README do cite it: the scan is looking
    assert [(where, anchor) for where, anchor in cited if anchor not in known] == []


def test_no_file_cites_the_research_notes() -> None:
    citing = [name(path) for path in repository_files() if RESEARCH_NOTES in path.read_text(errors="replace")]

    assert citing == []


def test_only_the_pending_modules_still_cite_decision_numbers() -> None:
    exempt = (DOC, Path(__file__).resolve())
    citing = {
        name(path)
        for path in repository_files()
        if path not in exempt and DECISION_TAG.search(path.read_text(errors="replace"))
    }

    assert sorted(citing - PENDING) == []


@pytest.mark.parametrize("module", sorted(PENDING))
def test_a_pending_module_still_cites_a_number_each_indexed(module: str) -> None:
    tags = {f"D{n}" for n in DECISION_TAG.findall((REPO_ROOT / module).read_text())}
    index = DOC.read_text().split('<a id="decision-index"></a>', 1)[1]
    indexed = {f"D{n}" for n in re.findall(r"^\| D([0-9]+) \|", index, re.MULTILINE)}

    assert tags, f"{module} cites no decision number any more: remove it from PENDING"
    assert sorted(tags - indexed) == []
