"""The Observability guide's "Health checks and the admin page" and "Metrics" programs run as written."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from aioneffos.framework import dial
from support import readme
from support.serving import Serve

GUIDE = "docs/guides/observability.md"
TOKEN = "guide-admin-token-0123456789"


async def test_guide_operations_program_serves_probes_and_the_admin_api(
    serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (program,) = readme.blocks("python", "Health checks and the admin page", doc=GUIDE)
    monkeypatch.setenv("AIONEFFOS_ADMIN_TOKEN", TOKEN)

    with readme.programs(tmp_path, {"ops.py": program}) as ops:
        ws_url = await serve(app=ops.app, path="/ws")
        base = URL(ws_url).with_path("/").with_scheme("http")
        conn = await dial(ws_url, {"default": {}})
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(base / "readyz") as ready:
                    assert (ready.status, await ready.json()) == (200, {"status": "ready"})
                bearer = {"Authorization": f"Bearer {TOKEN}"}
                async with session.get(base / "admin/api/state", headers=bearer) as state:
                    assert [c["id"] for c in (await state.json())["connections"]] == [conn.id]
                async with session.get(base / "admin/api/state") as refused:
                    assert refused.status == 401
        finally:
            await conn.close()


async def test_guide_metrics_program_serves_prometheus_metrics(serve: Serve, tmp_path: Path) -> None:
    (program,) = readme.blocks("python", "Metrics", doc=GUIDE)

    with readme.programs(tmp_path, {"metrics_app.py": program}) as served:
        ws_url = await serve(app=served.app, path="/ws")
        conn = await dial(ws_url, {"default": {}})
        try:
            ns = await conn.connect("default")
            assert (await ns.ask("echo", b"hi")).body == b"hi"
            page = URL(ws_url).with_path("/metrics").with_scheme("http")
            async with aiohttp.ClientSession() as session, session.get(page) as response:
                text = await response.text()
        finally:
            await conn.close()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    answered = (("event", "echo"), ("namespace", "default"), ("outcome", "reply"))
    assert samples[("aioneffos_asks_answered_total", answered)] == 1
    assert samples[("aioneffos_connections", ())] == 1
