"""docs/protocol.md: every ``docs/protocol.md#<anchor>`` cited in the repository resolves, and
nothing cites the research notes, or decisions by number, instead of the document's anchors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from support.tools import REPO_ROOT

DOC = REPO_ROOT / "docs" / "protocol.md"
SKIPPED_DIRS = {".git", ".venv", "node_modules", "build", "site", "test-artifacts", "__pycache__"}
TEXT_SUFFIXES = {".py", ".md", ".html", ".js", ".mjs", ".ts", ".toml", ".cfg", ".ini", ".sh", ".yml", ".yaml"}

CITATION = re.compile(r"docs/protocol\.md#([A-Za-z0-9_-]+)")
INTERNAL_LINK = re.compile(r"\]\(#([A-Za-z0-9_-]+)\)")
EXPLICIT_ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
RESEARCH_NOTES = "PROTOCOL" + ".md"  # spelled apart so this file does not cite it
DECISION_TAG = re.compile(r"\bD([0-9]{1,2})\b")


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


def test_no_file_cites_decision_numbers() -> None:
    # Comments link to the document's anchors (docs/protocol.md#<anchor>) or say the reason
    # directly; only the document's own decision index numbers the decisions.
    exempt = (DOC, Path(__file__).resolve())
    citing = [
        name(path)
        for path in repository_files()
        if path not in exempt and DECISION_TAG.search(path.read_text(errors="replace"))
    ]

    assert citing == []
