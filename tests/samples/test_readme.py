"""README.md runs as written: its programs, its two commands, its tables of samples and limits."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from aioneffos.framework import ConnectionRefusedByPeerError, Options, dial
from support import readme
from support.tools import REPO_ROOT


def test_readme_every_python_block_compiles() -> None:
    sources = readme.blocks("python")

    for number, source in enumerate(sources):
        compile(source, f"<README python block {number}>", "exec")
    assert len(sources) >= 6


def test_readme_quick_start_is_exactly_two_commands() -> None:
    (commands,) = readme.blocks("sh", "Quick start")

    assert [line.split("#")[0].strip() for line in commands.splitlines()] == ["make demo", "make test"]


async def test_readme_client_program_prints_what_the_readme_shows(
    serve, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (server_program,) = readme.blocks("python", "The server")
    (client_program,) = readme.blocks("python", "The Python client")
    (expected,) = readme.blocks("text", "The Python client")

    with readme.programs(tmp_path, {"app.py": server_program, "client.py": client_program}) as client:
        app = __import__("app").app
        url = await serve(app=app, path="/ws")
        await client.main(url)

    assert capsys.readouterr().out == expected


async def test_readme_server_program_refuses_mallory_with_its_text(serve, tmp_path: Path) -> None:
    (server_program,) = readme.blocks("python", "The server")

    with readme.programs(tmp_path, {"app.py": server_program}) as program:
        url = await serve(app=program.app, path="/ws")
        with pytest.raises(ConnectionRefusedByPeerError) as refused:
            await dial(url, {"default": {}}, headers={"X-Name": "mallory"})

    assert str(refused.value) == "not you again"


def test_readme_samples_table_lists_every_sample() -> None:
    listed = re.findall(r"^\| \[`(\w+)`\]\(samples/(\w+)\)", readme.section("Samples"), re.MULTILINE)
    runnable = {path.parent.name for path in (REPO_ROOT / "samples").glob("*/__main__.py")}

    assert all(name == folder for name, folder in listed)
    assert {name for name, _ in listed} == runnable | {"mvc_websocket", "scale_out"}


def test_readme_limits_table_matches_the_options_defaults() -> None:
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", readme.section("Limits and defaults"), re.MULTILINE)
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
