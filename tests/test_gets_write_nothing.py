"""A GET only reads: on the demo data, no GET of the API without path parameters sends an
INSERT, UPDATE or DELETE to the database, whichever role asks. (The GETs of tests and reports
with their ids are driven in ``tests/runs/test_reads_write_nothing.py``.)"""

from __future__ import annotations

import httpx

from fleet.settings import Settings
from tests.test_cli import run
from tests.writes import recorded_writes

# GETs that write on purpose, and why.
AUDITED_READS = {
    # downloading the whole database is itself audited (who took a copy of everything, when)
    "/api/v1/fleet-config/export": "INSERT INTO system_logs",
}


async def test_no_get_without_parameters_writes(settings: Settings) -> None:
    from fleet.app import create_app

    assert run(settings, "demo").returncode == 0
    app = create_app(settings)
    paths = sorted(
        path
        for path, ops in app.openapi()["paths"].items()
        if "get" in ops and path.startswith("/api/v1/") and "{" not in path
    )
    assert "/api/v1/reports" in paths and "/api/v1/workshop/dashboard" in paths
    found: list[tuple[str, str, int, list[str]]] = []
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for username in ("maker1", "manager1", "operator1"):
                r = await client.post(
                    "/api/v1/auth/login", json={"username": username, "password": "pass"}
                )
                h = {"Authorization": f"Bearer {r.json()['access_token']}"}
                for path in paths:
                    with recorded_writes(app) as writes:
                        answer = await client.get(path, headers=h)
                    assert answer.status_code < 500, (username, path, answer.text)
                    expected = AUDITED_READS.get(path)
                    unexpected = [w for w in writes if not (expected and w.startswith(expected))]
                    if unexpected:
                        found.append((username, path, answer.status_code, unexpected))
    finally:
        await app.state.engine.dispose()
    assert found == [], found
