"""The guide "Testing your app" runs as written: its files, written into an empty folder, pass under
pytest (run as a user runs it, in a fresh process that finds the plugin through its entry point),
and its failure text is what pytest prints."""

from __future__ import annotations

import pytest

from support import readme

GUIDE = "docs/guides/testing.md"
RUN_TIMEOUT = 120.0


def write_project(pytester: pytest.Pytester) -> tuple[str, str, str]:
    """Write the guide's configuration and three files into the pytester folder; give them."""
    (config,) = readme.blocks("toml", doc=GUIDE)
    chat, test_chat, test_shout = readme.blocks("python", doc=GUIDE)
    pytester.makefile(".toml", pyproject=config)
    pytester.makepyfile(chat=chat, test_chat=test_chat, test_shout=test_shout)
    return chat, test_chat, test_shout


def test_guide_testing_examples_pass_under_pytest(pytester: pytest.Pytester) -> None:
    write_project(pytester)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error", timeout=RUN_TIMEOUT)

    result.assert_outcomes(passed=6)


def test_guide_testing_failure_text_is_what_pytest_prints(pytester: pytest.Pytester) -> None:
    _, test_chat, _ = write_project(pytester)
    typo = test_chat.replace('await rec.next("OnWelcome")', 'await rec.next("OnWelcom", timeout=1)')
    assert typo != test_chat
    pytester.makepyfile(test_chat=typo)
    (expected,) = readme.blocks("text", doc=GUIDE)

    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "test_chat.py::test_welcome_names_the_user_and_the_time",
        timeout=RUN_TIMEOUT,
    )

    result.assert_outcomes(failed=1)
    assert expected.splitlines() == [line for line in result.outlines if line.startswith("E ")]
