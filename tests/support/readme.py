"""README.md and the documentation pages as test input: their fenced code blocks, by section,
and their programs as modules.

*doc* is a path from the repository root: ``"README.md"`` (the default) or a page such as
``"docs/guides/server.md"``; a section is what follows its ``## <title>`` line, up to the next.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

from support.tools import REPO_ROOT

README = "README.md"


def text(doc: str = README) -> str:
    """Give the text of *doc*."""
    return (REPO_ROOT / doc).read_text()


def section(title: str, doc: str = README) -> str:
    """Give the text of *doc*'s ``## <title>`` section, up to the next ``## ``."""
    whole = text(doc)
    start = whole.index(f"\n## {title}\n")
    end = whole.find("\n## ", start + 1)
    return whole[start : end if end != -1 else len(whole)]


def blocks(language: str, title: str | None = None, doc: str = README) -> list[str]:
    """Give the fenced ``language`` blocks of section *title* of *doc* (or of all of it), in order."""
    body = section(title, doc) if title is not None else text(doc)
    fence = f"```{language}\n"
    return [part.split("\n```", 1)[0] + "\n" for part in body.split(fence)[1:]]


@contextlib.contextmanager
def programs(folder: Path, files: Mapping[str, str]) -> Iterator[ModuleType]:
    """Write *files* into *folder* and import them as top-level modules (``app.py`` -> ``app``).

    Yields the module of the last file; the others are importable by name meanwhile,
    as they are when a user runs the program from that folder.
    """
    for name, source in files.items():
        (folder / name).write_text(source)
    importlib.invalidate_caches()
    sys.path.insert(0, str(folder))
    names = [Path(name).stem for name in files]
    try:
        module = None
        for name in names:
            module = importlib.import_module(name)
        assert module is not None
        yield module
    finally:
        sys.path.remove(str(folder))
        for name in names:
            sys.modules.pop(name, None)
