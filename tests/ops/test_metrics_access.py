"""Who may read /metrics: open (development), a bearer token, a separate address, or nobody."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from fleet.app import create_app
from fleet.settings import Settings
from tests.support import base_env, free_port, serve


async def _get(settings: Settings, headers: dict[str, str] | None = None) -> httpx.Response:
    app = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/metrics", headers=headers)
    finally:
        await app.state.engine.dispose()


async def test_open_in_development(settings: Settings) -> None:
    r = await _get(settings)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    names = {f.name for f in text_string_to_metric_families(r.text)}
    assert {"fleet_http_requests", "fleet_build_info", "fleet_installations"} <= names


async def test_disabled_by_default_in_production(settings: Settings) -> None:
    production = settings.model_copy(update={"env": "production"})
    assert (await _get(production)).status_code == 404


async def test_bearer_token(settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics": "token",
                                          "metrics_token": SecretStr("scrape-me-please")})
    assert (await _get(guarded)).status_code == 401
    assert (await _get(guarded, {"Authorization": "Bearer wrong"})).status_code == 401
    r = await _get(guarded, {"Authorization": "Bearer scrape-me-please"})
    assert r.status_code == 200 and "fleet_http_requests" in r.text


@pytest.mark.ops
def test_separate_bind_address(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = base_env(settings.resolved_database_url(), settings.data_dir, FLEET_METRICS="bind",
                   FLEET_METRICS_BIND=f"127.0.0.1:{port}")
    with serve(env, tmp_path / "serve.log", ["--workers", "2"]) as served:
        assert httpx.get(f"{served.base}/metrics").status_code == 404
        for _ in range(3):
            httpx.get(f"{served.base}/api/v1/auth/me")
        r = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    me = [s for s in families["fleet_http_requests"].samples
          if s.labels.get("route") == "/api/v1/auth/me"]
    assert sum(s.value for s in me) == 3  # both workers' figures, added up
    assert "fleet_build_info" in families
