"""README.md and the documentation pages run as written: their programs, the README's two commands,
the tables of samples and limits."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from aioneffos.framework import ConnectionRefusedByPeerError, Options, dial
from support import readme
from support.tools import REPO_ROOT

GETTING_STARTED = "docs/getting-started.md"


def documents() -> list[str]:
    """Give README.md and every page of the site's sources, as paths from the repository root."""
    pages = sorted((REPO_ROOT / "docs").rglob("*.md"))
    return [readme.README, *(page.relative_to(REPO_ROOT).as_posix() for page in pages)]


def test_every_python_block_of_the_readme_and_the_pages_compiles() -> None:
    sources = [(doc, source) for doc in documents() for source in readme.blocks("python", doc=doc)]

    for number, (doc, source) in enumerate(sources):
        compile(source, f"<{doc} python block {number}>", "exec")
    assert len(readme.blocks("python")) == 2
    assert {"README.md", GETTING_STARTED} <= {doc for doc, _ in sources}


def test_readme_quick_start_is_exactly_two_commands() -> None:
    (commands,) = readme.blocks("sh", "Quick start")

    assert [line.split("#")[0].strip() for line in commands.splitlines()] == ["make demo", "make test"]


async def test_readme_example_prints_what_the_readme_shows(
    serve, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (server_program, client_program) = readme.blocks("python", "An example")
    (expected,) = readme.blocks("text", "An example")

    with readme.programs(tmp_path, {"app.py": server_program, "client.py": client_program}) as client:
        app = __import__("app").app
        url = await serve(app=app, path="/ws")
        await client.main(url)

    assert capsys.readouterr().out == expected


async def test_getting_started_client_prints_what_the_page_shows(
    serve, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (server_program,) = readme.blocks("python", "A first server", doc=GETTING_STARTED)
    (client_program,) = readme.blocks("python", "A first client", doc=GETTING_STARTED)
    (expected,) = readme.blocks("text", "A first client", doc=GETTING_STARTED)

    with readme.programs(tmp_path, {"app.py": server_program, "client.py": client_program}) as client:
        app = __import__("app").app
        url = await serve(app=app, path="/ws")
        await client.main(url)

    assert capsys.readouterr().out == expected


async def test_getting_started_server_refuses_mallory_with_its_text(serve, tmp_path: Path) -> None:
    (server_program,) = readme.blocks("python", "A first server", doc=GETTING_STARTED)

    with readme.programs(tmp_path, {"app.py": server_program}) as program:
        url = await serve(app=program.app, path="/ws")
        with pytest.raises(ConnectionRefusedByPeerError) as refused:
            await dial(url, {"default": {}}, headers={"X-Name": "mallory"})

    assert str(refused.value) == "not you again"


def test_samples_page_lists_every_sample() -> None:
    listed = re.findall(
        r"^\| \[`(\w+)`\]\(\.\./\.\./samples/(\w+)\)", readme.text("docs/samples/index.md"), re.MULTILINE
    )
    runnable = {path.parent.name for path in (REPO_ROOT / "samples").glob("*/__main__.py")}
    shown = {path.stem for path in (REPO_ROOT / "docs" / "samples").glob("*.md")} - {"index"}

    assert all(name == folder for name, folder in listed)
    assert {name for name, _ in listed} == runnable | {"mvc_websocket", "scale_out"} == shown


def test_limits_table_matches_the_options_defaults() -> None:
    rows = re.findall(
        r"^\| `(\w+)` \| ([^|]+) \|",
        readme.section("Limits and defaults", doc="docs/guides/deploying.md"),
        re.MULTILINE,
    )
    documented = {name: default.strip() for name, default in rows}
    defaults = {field.name: field.default for field in attrs.fields(Options)}

    assert set(documented) == set(defaults)
    for name, value in defaults.items():
        shown = documented[name]
        in_bytes = re.fullmatch(r"\d+ [KM]iB \((\d+) bytes\)", shown)
        if in_bytes:
            assert int(in_bytes[1]) == value, name
        elif value is None or value == ():
            assert shown == "none", name
        elif isinstance(value, bool):
            assert shown == f"`{value}`", name
        else:
            assert shown.split()[0] == f"{value:g}", (name, shown)
