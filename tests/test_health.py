"""Health answers 200 only when the database does."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from fleet.app import create_app
from fleet.settings import Settings


async def test_health_ok(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}


async def test_health_503_when_database_is_down(tmp_path) -> None:
    app: FastAPI = create_app(
        Settings(
            env="test",
            data_dir=tmp_path,
            secret_key="x" * 40,  # type: ignore[arg-type]
            database_url="postgresql://nobody:none@127.0.0.1:1/none",
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "error"


async def test_docs_and_openapi_work_offline(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()
    assert (await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/auth/login" in spec["paths"]


async def test_pages_carry_security_headers(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
