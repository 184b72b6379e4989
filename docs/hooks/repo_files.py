"""MkDocs hook: repository files shown on the site, with their links made to work there.

A page line ``--8<-- "SECURITY.md"`` shows that repository file (a path from the repository
root) in its place, so README.md, SECURITY.md, CHANGELOG.md, bench/README.md and the samples'
READMEs are shown on the site, never copied.

Relative links are rebased on the way, in included text and on every page: a link that
resolves to a file under ``docs/`` points at its page, and a link to a file a page includes
(a folder stands for its README.md) points at the page that shows it; in included text, ``#anchor``
is an anchor of the included file. Any other link out of ``docs/`` is left for MkDocs to report,
which fails a ``--strict`` build: a page links only to what the site holds.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

INCLUDE = re.compile(r'^--8<-- "([^"]+)"[ \t]*$', re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
REFERENCE_LINK = re.compile(r"^(\[[^\]]+\]:[ \t]+)(\S+)", re.MULTILINE)
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")

included: dict[str, str] = {}
"""Repository path of each included file -> the page that shows it (its path under docs/)."""


def on_files(files: Any, config: Any) -> Any:
    """Find which page includes which repository file, before any page is rendered."""
    docs = Path(config["docs_dir"])
    included.clear()
    for page in sorted(docs.rglob("*.md")):
        for path in INCLUDE.findall(page.read_text()):
            included[posixpath.normpath(path)] = page.relative_to(docs).as_posix()
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put each included file in place of its line, then rebase the page's relative links."""
    docs = Path(config["docs_dir"]).resolve()
    root = docs.parent
    docs_dir = docs.relative_to(root).as_posix()
    page_dir = posixpath.dirname(posixpath.join(docs_dir, page.file.src_uri))

    def include(match: re.Match[str]) -> str:
        path = posixpath.normpath(match[1])
        return rebase((root / path).read_text(), path, page_dir, docs_dir)

    markdown = INCLUDE.sub(include, markdown)
    return rebase(markdown, None, page_dir, docs_dir)


def rebase(text: str, source: str | None, page_dir: str, docs_dir: str) -> str:
    """Make the relative links of *text* work from *page_dir*; *source* is the included file."""
    source_dir = posixpath.dirname(source) if source is not None else page_dir

    def target(link: str) -> str:
        if EXTERNAL.match(link):
            return link
        path, hash_, anchor = link.partition("#")
        if not path:
            if source is None:
                return link
            path = posixpath.basename(source)
        resolved = posixpath.normpath(posixpath.join(source_dir, path))
        if not resolved.startswith(docs_dir + "/"):
            shown = included.get(resolved) or included.get(posixpath.join(resolved, "README.md"))
            if shown is not None:
                resolved = posixpath.join(docs_dir, shown)
        return posixpath.relpath(resolved, page_dir) + hash_ + anchor

    def links(part: str) -> str:
        part = INLINE_LINK.sub(lambda m: m[1] + target(m[2]) + m[3], part)
        return REFERENCE_LINK.sub(lambda m: m[1] + target(m[2]), part)

    pieces: list[str] = []
    last = 0
    for fence in FENCE.finditer(text):
        pieces += [links(text[last : fence.start()]), fence[0]]
        last = fence.end()
    pieces.append(links(text[last:]))
    return "".join(pieces)
