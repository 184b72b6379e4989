"""The documentation site builds with ``mkdocs build --strict``, offline, and shows what it claims.

The build fails on a broken link or anchor, a page missing from the nav and an API reference
that does not resolve; it runs once per session, without a network where the machine can take
the network away (``unshare``), so nothing is fetched at build time.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from support.tools import REPO_ROOT, require

DOCS = REPO_ROOT / "docs"
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
LIST_ITEM = re.compile(r"^( *)([*+-]|\d+\.) ")


def hook() -> ModuleType:
    """Load the site's hook module (it lives in docs/hooks/, not in a package)."""
    spec = importlib.util.spec_from_file_location("repo_files", DOCS / "hooks" / "repo_files.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_network() -> list[str]:
    """Give the command prefix that runs a program with no network, or [] where none works here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "--net"], [unshare, "--map-root-user", "--net"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return []


class Site:
    """A finished ``mkdocs build --strict`` into *folder*: its exit code and log."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        prefix = without_network()
        self.offline = bool(prefix)
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's notice about its successor
        command = [*prefix, sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)]
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
        self.returncode = done.returncode
        self.log = done.stdout + done.stderr

    def page(self, path: str) -> str:
        """Give the HTML of page *path* of the site (``reference/framework`` -> its index.html)."""
        return (self.folder / path / "index.html").read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    return Site(tmp_path_factory.mktemp("site"))


def site_sources() -> list[Path]:
    """Give every Markdown file the site shows: its pages and the repository files they include."""
    pages = sorted(path for path in DOCS.rglob("*.md") if "hooks" not in path.parts)
    shown = {REPO_ROOT / path for page in pages for path in hook().INCLUDE.findall(page.read_text())}
    return pages + sorted(shown)


def test_site_builds_strictly(site: Site) -> None:
    assert site.returncode == 0, site.log
    assert "WARNING" not in site.log, site.log


def test_site_builds_without_a_network(site: Site) -> None:
    require(None if site.offline else "cannot take the network away here (unshare --net failed)")

    assert site.returncode == 0, site.log


def test_site_pages_load_nothing_from_other_hosts(site: Site) -> None:
    pages = sorted(site.folder.rglob("*.html"))
    remote = re.compile(r"<(?:link|script|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//[^\"]*\"")

    assert len(pages) > 20
    assert [(page.name, found) for page in pages for found in remote.findall(page.read_text())] == []
    assert not any("fonts.googleapis" in page.read_text() for page in pages)


def test_api_reference_renders_every_package_face(site: Site) -> None:
    expected = {
        "framework": ["Server", "NSConn", "dial", "Options", "health.setup", "admin.setup"],
        "framework.scaleout": ["RedisExchange", "NATSExchange", "MemoryBroker"],
        "controllers": ["Controller", "handle_websocket", "BaseApplication", "asyncapi.add_asyncapi_route"],
        "di": ["Application", "Registry"],
        "mvc": ["Application", "Controller", "join_conn_handlers"],
        "testing": ["connect", "Recorder", "Clients", "SocketClients"],
    }
    for face, names in expected.items():
        html = site.page("reference/" + face.removeprefix("framework."))
        assert [name for name in names if f'id="aioneffos.{face}.{name}"' not in html] == [], face


def test_changelog_page_shows_the_changelog_itself(site: Site) -> None:
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^#{2,3} (.+)$", changelog, re.MULTILINE)
    html = site.page("changelog")

    assert "[Unreleased]" in headings
    assert [h for h in headings if not re.search(rf"<h[23] id=[^>]*>{re.escape(h)}<", html)] == []
    assert html.count("<li>") >= changelog.count("\n- ")


def test_protocol_page_keeps_its_anchors(site: Site) -> None:
    ids = set(re.findall(r'<a id="([^"]+)"></a>', (DOCS / "protocol.md").read_text()))
    html = site.page("protocol")

    assert len(ids) > 50
    assert sorted(i for i in ids if f'id="{i}"' not in html) == []


def test_site_markdown_renders_as_it_does_on_github() -> None:
    # Python-Markdown needs a blank line before a list and four spaces to nest one; GitHub
    # needs neither, so a file can look right there and come out as one paragraph on the site.
    problems = []
    sources = site_sources()
    for path in sources:
        lines = FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m[0]), path.read_text()).split("\n")
        for number, line in enumerate(lines):
            item = LIST_ITEM.match(line)
            if item is None:
                continue
            before = lines[number - 1] if number else ""
            if len(item[1]) % 4:
                problems.append(f"{path.relative_to(REPO_ROOT)}:{number + 1}: nest lists by four spaces")
            if before.strip() and not LIST_ITEM.match(before) and not before.startswith((" ", "#")):
                problems.append(f"{path.relative_to(REPO_ROOT)}:{number + 1}: a blank line before the list")

    assert {"README.md", "CHANGELOG.md", "SECURITY.md"} <= {p.name for p in sources}
    assert problems == []
