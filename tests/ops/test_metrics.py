"""/metrics of a two-worker server after scripted traffic: every family present, counters moved
by exactly what was sent, database figures equal to the database."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from fleet import __version__
from fleet.db import create_engine as create_async
from fleet.db import create_sessionmaker
from fleet.settings import Settings, sync_database_url
from tests.factories import add_installation, add_version
from tests.ops.harness import PASSWORD, add_devices, add_users, live_events
from tests.support import base_env, serve

pytestmark = pytest.mark.ops

FAMILIES = [
    "fleet_http_requests", "fleet_http_request_duration_seconds", "fleet_http_requests_in_flight",
    "fleet_db_pool_connections_in_use", "fleet_db_pool_waits", "fleet_db_pool_checkout_seconds",
    "fleet_ws_connections", "fleet_ws_events_sent", "fleet_ws_events_dropped",
    "fleet_ddi_polls", "fleet_ddi_feedback_reports", "fleet_ddi_feedback_batch_size",
    "fleet_telemetry_samples", "fleet_installations", "fleet_rollouts", "fleet_tests_running",
    "fleet_test_verdicts", "fleet_login_failures", "fleet_logins_throttled",
    "fleet_backup_duration_seconds", "fleet_build_info", "fleet_database_up",
]


class Scrape:
    def __init__(self, body: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(body)}
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in self.families.values():
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def total(self, name: str, **labels: str) -> float:
        """Sum over every sample of ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)


def _feedback(execution: str, finished: str = "none") -> dict[str, Any]:
    return {"id": None, "time": "20261130T120000",
            "status": {"execution": execution, "result": {"finished": finished}}}


def test_metrics_add_up_across_two_workers(settings: Settings, tmp_path: Path) -> None:
    url = settings.resolved_database_url()
    add_users(url, {"boss": "manager", "root1": "admin", "victim": "operator"})
    device = add_devices(url, 1, "MET")[0]

    async def prepare() -> tuple[int, int]:
        engine = create_async(settings)
        factory = create_sessionmaker(engine)
        try:
            version = await add_version(factory, settings)
            from sqlalchemy import select

            from fleet.models import Device

            async with factory() as session:
                dev_id = await session.scalar(
                    select(Device.id).where(Device.device_number == device.controller_id)
                )
            assert dev_id is not None
            inst = await add_installation(factory, dev_id, version.id)
            return inst.id, dev_id
        finally:
            await engine.dispose()

    installation_id, device_id = asyncio.run(prepare())
    env = base_env(url, settings.data_dir, FLEET_SECRET_KEY="x" * 48)
    sent: list[tuple[str, str, int]] = []
    # Live events cross worker processes through PostgreSQL; on SQLite (one worker is the
    # supported set-up) a reading reaches only the WebSocket clients of the worker it came to.
    cross_worker_events = url.startswith("postgresql")

    with serve(env, tmp_path / "serve.log", ["--workers", "2"]) as served:
        http = httpx.Client(base_url=served.base, timeout=30)

        def call(method: str, path: str, **kw: Any) -> httpx.Response:
            r = http.request(method, path, **kw)
            sent.append((method, path, r.status_code))
            return r

        before = Scrape(http.get("/metrics").text)
        sent.clear()
        assert set(FAMILIES) <= set(before.families), set(FAMILIES) - set(before.families)

        r = call("POST", "/api/v1/auth/login", json={"username": "boss", "password": PASSWORD})
        assert r.status_code == 200, r.text
        boss = {"Authorization": f"Bearer {r.json()['access_token']}"}
        for _ in range(2):
            r = call("POST", "/api/v1/auth/login", json={"username": "boss", "password": "no"})
            assert r.status_code == 401
        for _ in range(5):
            call("POST", "/api/v1/auth/login", json={"username": "victim", "password": "no"})
        r = call("POST", "/api/v1/auth/login", json={"username": "victim", "password": "no"})
        assert r.status_code == 429
        for _ in range(3):
            assert call("GET", "/api/v1/fleet-data/devices", headers=boss).status_code == 200
        for _ in range(2):
            r = call("GET", f"/api/v1/fleet-data/devices/{device_id}", headers=boss)
            assert r.status_code == 200
        target = {"Authorization": f"TargetToken {device.token}"}
        ddi = f"/DEFAULT/controller/v1/{device.controller_id}"
        for _ in range(4):
            assert call("GET", ddi, headers=target).status_code == 200
        fb = f"{ddi}/deploymentBase/{installation_id}/feedback"
        assert call("POST", fb, headers=target, json=_feedback("proceeding")).status_code == 200
        r = call("POST", fb, headers=target, json=_feedback("closed", "success"))
        assert r.status_code == 200, r.text

        token = boss["Authorization"].split()[1]
        t0 = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp() * 1000)
        with live_events(served.base, token, f"device:{device_id}") as ws:
            assert json.loads(ws.recv(timeout=10))["event"] == "subscribed"
            for start, n in ((0, 5), (10, 3)):
                samples = [{"t": t0 + start + i, "pressure_low": -14.0} for i in range(n)]
                r = call("POST", "/api/v1/device-api/telemetry", headers=target,
                         json={"samples": samples})
                assert r.status_code == 200, r.text
                if cross_worker_events:
                    while json.loads(ws.recv(timeout=10))["event"] != "sensor.reading":
                        pass
            during = Scrape(http.get("/metrics").text)
            sent.append(("GET", "/metrics", 200))
        assert during.value("fleet_ws_connections") == 1
        assert during.value("fleet_http_requests_in_flight") == 1  # the scrape itself

        add_users(url, {"auditor": "admin"})
        r = call("POST", "/api/v1/auth/login", json={"username": "root1", "password": PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = call("GET", "/api/v1/fleet-config/export", headers=admin)
        assert r.status_code == 200, r.text[:300]

        after = Scrape(http.get("/metrics").text)

    def moved(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    # Every answered request is counted once, under its route template, never its raw path.
    by_route = {
        dict(ls)["route"] + " " + dict(ls)["status"]: moved(n, **dict(ls))
        for (n, ls) in after.samples if n == "fleet_http_requests_total"
    }
    # (/health answered the start-up wait; its count may land on either side of the first scrape)
    health = moved("fleet_http_requests_total", route="/health")
    assert moved("fleet_http_requests_total") - health == len(sent) + 1, (by_route, sent)
    assert moved("fleet_http_requests_total", route="/api/v1/fleet-data/devices",
                 method="GET", status="200") == 3
    assert moved("fleet_http_requests_total", route="/api/v1/fleet-data/devices/{device_id}",
                 method="GET", status="200") == 2
    assert moved("fleet_http_requests_total", route="/api/v1/auth/login", status="401") == 7
    assert moved("fleet_http_requests_total", route="/api/v1/auth/login", status="429") == 1
    assert moved("fleet_http_request_duration_seconds_count",
                 route="/api/v1/fleet-data/devices", method="GET") == 3
    routes = {dict(ls).get("route", "") for (_n, ls) in after.samples}
    assert "/{tenant}/controller/v1/{controllerId}" in routes, routes
    assert not [r for r in routes if re.search(r"/\d+(/|$)", r) or device.controller_id in r]
    assert moved("fleet_login_failures_total") == 7
    assert moved("fleet_logins_throttled_total") == 1
    assert moved("fleet_ddi_polls_total") == 4
    assert moved("fleet_ddi_feedback_reports_total", outcome="applied") == 2
    assert moved("fleet_ddi_feedback_batch_size_sum") == 2
    assert moved("fleet_telemetry_samples_total") == 8
    if cross_worker_events:
        assert moved("fleet_ws_events_sent_total") == 2
    assert moved("fleet_ws_events_dropped_total") == 0
    assert moved("fleet_backup_duration_seconds_count", operation="backup") == 1
    assert after.value("fleet_db_pool_connections_in_use") >= 0
    assert after.value("fleet_database_up") == 1

    # Figures of the database equal the database.
    engine = create_engine(sync_database_url(url))
    with engine.connect() as conn:
        by_status = dict(conn.execute(
            text("SELECT status, count(*) FROM software_installations GROUP BY status")).all())
        revisions = sorted(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    engine.dispose()
    assert by_status and sum(by_status.values()) == 1
    for status, n in by_status.items():
        assert after.value("fleet_installations", status=status) == n
    assert after.value("fleet_tests_running") == 0
    assert after.value("fleet_build_info", version=__version__,
                       schema_revision=",".join(revisions)) == 1
