"""README.md as test input: its fenced code blocks, by section, and its programs as modules."""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

from support.tools import REPO_ROOT

README = REPO_ROOT / "README.md"


def section(title: str) -> str:
    """Give the text of README.md's ``## <title>`` section, up to the next ``## ``."""
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def blocks(language: str, title: str | None = None) -> list[str]:
    """Give the fenced ``language`` blocks of section *title* (or of the whole README), in order."""
    text = section(title) if title is not None else README.read_text()
    fence = f"```{language}\n"
    return [part.split("\n```", 1)[0] + "\n" for part in text.split(fence)[1:]]


@contextlib.contextmanager
def programs(folder: Path, files: Mapping[str, str]) -> Iterator[ModuleType]:
    """Write *files* into *folder* and import them as top-level modules (``app.py`` -> ``app``).

    Yields the module of the last file; the others are importable by name meanwhile,
    as they are when a user runs the program from that folder.
    """
    for name, text in files.items():
        (folder / name).write_text(text)
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
