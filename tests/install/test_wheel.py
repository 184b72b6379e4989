"""Install from your own folder, as Getting started says: the wheel ``python -m build`` makes,
installed into a fresh venv outside the repository, runs the README's example and the programs of
Getting started there as written.

Building and installing need setuptools and aioneffos's dependencies from PyPI (or pip's cache).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from support import readme
from support.tools import REPO_ROOT, free_port, require

pytestmark = pytest.mark.install

GETTING_STARTED = "docs/getting-started.md"
INSTALL_TIMEOUT = 600.0  # seconds: a cold pip cache downloads every dependency
RUN_TIMEOUT = 30.0
PACKAGES = {
    "framework": "aioneffos/framework",
    "controllers": "aioneffos/controllers",
    "di": "aioneffos/di",
    "mvc": "aioneffos/mvc",
    "testing": "aioneffos/testing",
}
# Any line of the build that warns (`WARNING <python warning>` from build, `warning: ...`
# from setuptools' commands) or says something is deprecated.
WARNING = re.compile(r"^.*(warning|deprecat).*$", re.IGNORECASE | re.MULTILINE)


def user_env() -> dict[str, str]:
    """The environment of a user's shell: nothing pointing into the repository or its venv."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE"}
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run(*argv: str | Path, cwd: Path) -> str:
    """Run *argv*; give its output (stdout and stderr), failing the test with it on a non-zero exit."""
    done = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=user_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(map(str, argv))} exited with {done.returncode}:\n{done.stdout}"
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``python -m build`` of the repository (sdist, then the wheel from it); give the wheel and the log."""
    require(None if importlib.util.find_spec("build") else "the `build` package is missing (.ci/setup test)")
    dist = tmp_path_factory.mktemp("dist")
    log = run(sys.executable, "-m", "build", "--outdir", dist, REPO_ROOT, cwd=dist)
    (wheel,) = dist.glob("aioneffos-*-py3-none-any.whl")
    return wheel, log


def test_build_prints_no_warning_about_the_project(built: tuple[Path, str]) -> None:
    _, log = built

    assert WARNING.findall(log) == [], log


def test_wheel_holds_every_module_and_page_file_of_every_package(built: tuple[Path, str]) -> None:
    wheel, _ = built
    in_repository = {
        f"{prefix}/{path.relative_to(REPO_ROOT / folder).as_posix()}"
        for folder, prefix in PACKAGES.items()
        for path in (REPO_ROOT / folder).rglob("*")
        if path.suffix == ".py" or path.name == "py.typed" or (path.is_file() and "admin_page" in path.parts)
    }

    with zipfile.ZipFile(wheel) as archive:
        in_wheel = {name for name in archive.namelist() if name.startswith("aioneffos/")}

    assert in_wheel == in_repository


def test_wheel_registers_the_pytest_plugin(built: tuple[Path, str]) -> None:
    wheel, _ = built

    with zipfile.ZipFile(wheel) as archive:
        (name,) = [name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt")]
        entry_points = archive.read(name).decode()

    assert "[pytest11]\naioneffos = aioneffos.testing.plugin\n" in entry_points


def test_wheel_and_sdist_ship_the_license_text(built: tuple[Path, str]) -> None:
    wheel, _ = built
    (sdist,) = wheel.parent.glob("aioneffos-*.tar.gz")
    license_text = (REPO_ROOT / "LICENSE").read_text()

    with zipfile.ZipFile(wheel) as archive:
        (dist_info,) = {name.split("/")[0] for name in archive.namelist() if ".dist-info/" in name}
        shipped = archive.read(f"{dist_info}/licenses/LICENSE").decode()
        metadata = archive.read(f"{dist_info}/METADATA").decode()
    with tarfile.open(sdist) as archive:
        (top,) = {member.name.split("/")[0] for member in archive.getmembers()}
        license_file = archive.extractfile(f"{top}/LICENSE")
        assert license_file is not None
        in_sdist = license_file.read().decode()

    assert shipped == in_sdist == license_text
    assert "MIT License" in license_text
    assert "License-Expression: MIT" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()


async def test_readme_and_getting_started_programs_run_from_a_fresh_venv_outside_the_repository(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    wheel, _ = built
    venv, project = tmp_path / "venv", tmp_path / "my-project"
    project.mkdir()
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    # This suite's pip installs into the new venv (`--python`): the same pip a user would
    # run from there, without the seconds that seeding pip into every fresh venv costs.
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel, cwd=project)
    located = run(python, "-c", "import aioneffos.framework as f; print(f.__file__)", cwd=project)
    assert Path(located.strip()).is_relative_to(venv)  # the wheel's copy, not the repository's
    # The admin page's files are package data: they load from the installed wheel.
    admin_check = (
        "from aiohttp import web; from aioneffos.framework import Server, admin;"
        " admin.setup(web.Application(), Server({}), token='x' * 16); print('admin page ok')"
    )
    assert run(python, "-c", admin_check, cwd=project).strip() == "admin page ok"

    # The README's example, then the two programs of Getting started, as a user saves them.
    (readme_server, readme_client) = readme.blocks("python", "An example")
    (readme_output,) = readme.blocks("text", "An example")
    (first_server,) = readme.blocks("python", "A first server", doc=GETTING_STARTED)
    (first_client,) = readme.blocks("python", "A first client", doc=GETTING_STARTED)
    (first_output,) = readme.blocks("text", "A first client", doc=GETTING_STARTED)
    for server_program, client_program, expected in [
        (readme_server, readme_client, readme_output),
        (first_server, first_client, first_output),
    ]:
        assert await run_app_and_client(python, project, server_program, client_program) == (0, expected, 0)


async def run_app_and_client(
    python: Path, project: Path, server_program: str, client_program: str
) -> tuple[int | None, str, int | None]:
    """Save *server_program* as app.py and *client_program* as client.py in *project* (on a free
    port), run app.py until it serves, then client.py; stop app.py with SIGINT. Give the client's
    exit code and output, and the server's exit code."""
    port = str(free_port())
    assert "port=8080" in server_program
    assert "ws://127.0.0.1:8080/ws" in client_program
    (project / "app.py").write_text(server_program.replace("port=8080", f"port={port}"))
    (project / "client.py").write_text(client_program.replace(":8080/", f":{port}/"))

    server = await asyncio.create_subprocess_exec(
        python,
        "app.py",
        cwd=project,
        env=user_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert server.stdout is not None
        printed: list[str] = []
        async with asyncio.timeout(RUN_TIMEOUT):
            while f"http://127.0.0.1:{port}" not in "".join(printed[-1:]):
                line = (await server.stdout.readline()).decode()
                assert line, f"app.py ended before serving:\n{''.join(printed)}"
                printed.append(line)
        client = await asyncio.create_subprocess_exec(
            python, "client.py", cwd=project, env=user_env(), stdout=asyncio.subprocess.PIPE
        )
        async with asyncio.timeout(RUN_TIMEOUT):
            out, _ = await client.communicate()
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)
            async with asyncio.timeout(RUN_TIMEOUT):
                await server.wait()
    return client.returncode, out.decode(), server.returncode
