"""The layers point one way (DESIGN.md section 3): testing -> (mvc, a face) -> di -> controllers -> framework,
and an upper layer imports only the face (the package itself) of a lower one, never one of its modules.

Read from the import statements of every module, so it runs with the test command;
CI also runs the import-linter contracts in pyproject.toml (``lint-imports``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from support.tools import REPO_ROOT

FORBIDDEN = {
    "framework": ("aioneffos.controllers", "aioneffos.di", "aioneffos.mvc", "aioneffos.testing"),
    "controllers": ("aioneffos.di", "aioneffos.mvc", "aioneffos.testing"),
    "di": ("aioneffos.mvc", "aioneffos.testing"),
    "mvc": ("aioneffos.testing",),
}
"""Each package folder and the packages it must never import."""

FACES = {
    "controllers": ("aioneffos.framework",),
    "di": ("aioneffos.framework", "aioneffos.controllers"),
    "mvc": ("aioneffos.framework", "aioneffos.controllers", "aioneffos.di"),
    "testing": ("aioneffos.framework", "aioneffos.controllers", "aioneffos.di", "aioneffos.mvc"),
}
"""Each upper package folder and the lower packages it may import, through their face only."""


def imported_modules(source: str, package: str) -> set[str]:
    """Give every module *source* imports, relative imports resolved against *package*."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, node.module] if node.module else parts)
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules_named(source: str, package: str) -> set[str]:
    """Give the module each import statement of *source* names (``from m import x`` names ``m``)."""
    named: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                named.add(".".join([*parts, node.module] if node.module else parts))
            else:
                named.add(node.module or "")
    return named


def behind_faces(folder: str, root: Path = REPO_ROOT) -> list[str]:
    """List ``file: module`` for each import of a lower layer's module other than its face."""
    bad = []
    for path in sorted((root / folder).rglob("*.py")):
        package = ".".join(["aioneffos", folder, *path.relative_to(root / folder).parent.parts])
        for module in sorted(modules_named(path.read_text(), package)):
            if any(module.startswith(face + ".") for face in FACES[folder]):
                bad.append(f"{path.relative_to(root)}: {module}")
    return bad


def violations(folder: str, root: Path = REPO_ROOT) -> list[str]:
    """List ``file: module`` for each forbidden import under *folder*."""
    bad = []
    for path in sorted((root / folder).rglob("*.py")):
        package = ".".join(["aioneffos", folder, *path.relative_to(root / folder).parent.parts])
        for module in sorted(imported_modules(path.read_text(), package)):
            if any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN[folder]):
                bad.append(f"{path.relative_to(root)}: {module}")
    return bad


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_layering_package_imports_only_lower_layers(folder: str) -> None:
    assert violations(folder) == []


@pytest.mark.parametrize(
    "statement",
    ["from aioneffos.di import Registry", "import aioneffos.di.registry", "from ..di import registry"],
)
def test_layering_check_catches_each_import_form(tmp_path: Path, statement: str) -> None:
    (tmp_path / "controllers").mkdir()
    (tmp_path / "controllers" / "bad.py").write_text(f"{statement}\n")

    assert len(violations("controllers", tmp_path)) >= 1
    assert all(v.startswith("controllers/bad.py: aioneffos.di") for v in violations("controllers", tmp_path))


@pytest.mark.parametrize("folder", sorted(FACES))
def test_layering_upper_package_imports_lower_faces_only(folder: str) -> None:
    assert behind_faces(folder) == []


@pytest.mark.parametrize(
    "statement",
    [
        "from aioneffos.framework.ns_conn import run_cleanups",
        "import aioneffos.controllers.injection",
        "from aioneffos.controllers.errors import type_name",
    ],
)
def test_layering_face_check_catches_each_import_form(tmp_path: Path, statement: str) -> None:
    (tmp_path / "di").mkdir()
    (tmp_path / "di" / "bad.py").write_text(f"from aioneffos.controllers import Scope\n{statement}\n")

    assert behind_faces("di", tmp_path) == [f"di/bad.py: {statement.split()[1]}"]
