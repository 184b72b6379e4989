"""samples/chat for an operator: /healthz, /readyz and the admin page, its token printed only when safe."""

from __future__ import annotations

import re

import aiohttp
import pytest

from aioneffos.framework import dial
from samples.chat.app import TOKEN_VARIABLE, admin_token
from support.sample_process import StartSample

ENV_TOKEN = "a-token-the-operator-chose-0123"


async def get(url: str, token: str | None = None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.json()


async def test_chat_sample_prints_its_admin_link_and_serves_health_and_admin(
    start_sample: StartSample,
) -> None:
    sample = await start_sample("chat")
    [printed] = [line for line in sample.lines if line.startswith("admin page")]
    found = re.fullmatch(rf"admin page: http://127\.0\.0\.1:{sample.port}/admin#token=(\S+)", printed)
    assert found is not None, printed
    token = found.group(1)
    conn = await dial(sample.ws_url, {"chat": {}}, headers={"X-Username": "carol"})
    try:
        await (await conn.connect("chat")).join_room("python")
        status, state = await get(f"{sample.url}admin/api/state", token)
        assert status == 200
        assert [(c["id"], c["namespaces"]) for c in state["connections"]] == [(conn.id, {"chat": ["python"]})]  # type: ignore[index]
        assert (await get(f"{sample.url}admin/api/state"))[0] == 401
        assert await get(f"{sample.url}healthz") == (200, {"status": "ok"})
        assert await get(f"{sample.url}readyz") == (200, {"status": "ready"})
    finally:
        await conn.close()


async def test_chat_sample_never_prints_a_token_from_the_environment(
    start_sample: StartSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, ENV_TOKEN)
    sample = await start_sample("chat")
    assert f"admin page: http://127.0.0.1:{sample.port}/admin (token from ${TOKEN_VARIABLE})" in sample.lines
    assert ENV_TOKEN not in sample.output
    assert (await get(f"{sample.url}admin/api/state", ENV_TOKEN))[0] == 200


@pytest.mark.parametrize(
    ("host", "environ", "expected_token", "message"),
    [
        (
            "0.0.0.0",
            {},
            None,
            "admin page off: set $AIONEFFOS_ADMIN_TOKEN (16 characters or more) to serve it on 0.0.0.0",
        ),
        (
            "192.0.2.7",
            {},
            None,
            "admin page off: set $AIONEFFOS_ADMIN_TOKEN (16 characters or more) to serve it on 192.0.2.7",
        ),
        (
            "example.org",
            {},
            None,
            "admin page off: set $AIONEFFOS_ADMIN_TOKEN (16 characters or more) to serve it on example.org",
        ),
        (
            "0.0.0.0",
            {TOKEN_VARIABLE: "short"},
            None,
            "admin page off: $AIONEFFOS_ADMIN_TOKEN has fewer than 16 characters",
        ),
        (
            "0.0.0.0",
            {TOKEN_VARIABLE: ENV_TOKEN},
            ENV_TOKEN,
            "admin page: http://0.0.0.0:8080/admin (token from $AIONEFFOS_ADMIN_TOKEN)",
        ),
    ],
    ids=["all-interfaces", "public-address", "host-name", "short-token", "operator-token"],
)
def test_chat_admin_token_is_printed_only_for_a_loopback_listener(
    host: str, environ: dict[str, str], expected_token: str | None, message: str
) -> None:
    assert admin_token(host, 8080, environ) == (expected_token, message)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_chat_admin_token_is_made_for_a_loopback_listener(host: str) -> None:
    token, message = admin_token(host, 8080, {})
    assert token is not None
    assert len(token) >= 24
    shown = "[::1]" if host == "::1" else host
    assert message == f"admin page: http://{shown}:8080/admin#token={token}"
