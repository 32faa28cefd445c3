"""Two `fleet serve` instances (as on two hosts) over one PostgreSQL database and one data
directory, behind one nginx (round robin): nothing depends on being one process."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from fleet.db import create_engine as create_async
from fleet.db import create_sessionmaker
from fleet.models import Device
from fleet.settings import Settings, sync_database_url
from tests.factories import add_version
from tests.ops.harness import PASSWORD, add_devices, add_users, live_events, nginx
from tests.support import base_env, serve

pytestmark = pytest.mark.ops


def _ids(url: str, numbers: list[str]) -> list[int]:
    engine = create_engine(sync_database_url(url))
    with engine.connect() as conn:
        rows = conn.execute(
            select(Device.device_number, Device.id).where(Device.device_number.in_(numbers))
        ).all()
    found = {number: ident for number, ident in rows}
    engine.dispose()
    return [found[n] for n in numbers]


def _login(http: httpx.Client, username: str) -> dict[str, str]:
    r = http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _feedback(execution: str, finished: str = "none") -> dict[str, Any]:
    return {"id": None, "time": "20261130T120000",
            "status": {"execution": execution, "result": {"finished": finished}}}


def test_two_instances_behind_one_proxy(settings: Settings, tmp_path: Path) -> None:
    url = settings.resolved_database_url()
    if not url.startswith("postgresql"):
        pytest.skip("several hosts share a PostgreSQL database (a SQLite file is one machine's)")
    add_users(url, {"boss": "manager", "mk": "maker", "target": "operator"})
    sims = add_devices(url, 5, "TWO")
    ids = _ids(url, [s.controller_id for s in sims])

    async def version() -> int:
        engine = create_async(settings)
        try:
            return (await add_version(create_sessionmaker(engine), settings)).id
        finally:
            await engine.dispose()

    version_id = asyncio.run(version())
    # No FLEET_SECRET_KEY: both instances start at once on the one data dir and must agree on
    # the development secret kept there (a token from one is valid on the other).
    env = base_env(url, settings.data_dir)
    with ExitStack() as stack:
        a = stack.enter_context(serve(env, tmp_path / "a.log"))
        b = stack.enter_context(serve(env, tmp_path / "b.log"))
        base = stack.enter_context(nginx(tmp_path / "nginx", [a.port, b.port]))
        verify = ssl.create_default_context(cafile=str(tmp_path / "nginx" / "cert.pem"))
        proxy = stack.enter_context(httpx.Client(base_url=base, verify=verify, timeout=30))
        on_a = stack.enter_context(httpx.Client(base_url=a.base, timeout=30))
        on_b = stack.enter_context(httpx.Client(base_url=b.base, timeout=30))
        boss = _login(proxy, "boss")
        assert on_a.get("/api/v1/auth/me", headers=boss).status_code == 200
        assert on_b.get("/api/v1/auth/me", headers=boss).status_code == 200

        # -- live events: a WebSocket on A sees what a device reports through B ---------------
        dev, sim = ids[4], sims[4]
        target = {"Authorization": f"TargetToken {sim.token}"}
        token = boss["Authorization"].split()[1]
        with live_events(a.base, token, f"device:{dev}") as ws:
            assert json.loads(ws.recv(timeout=10))["event"] == "subscribed"
            t0 = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp() * 1000)
            samples = [{"t": t0 + i, "pressure_low": -12.5} for i in range(4)]
            r = on_b.post("/api/v1/device-api/telemetry", headers=target,
                          json={"samples": samples})
            assert r.status_code == 200, r.text
            while True:
                event = json.loads(ws.recv(timeout=10))
                if event["event"] == "sensor.reading":
                    break
            assert event["data"]["device_id"] == dev and len(event["data"]["samples"]) == 4

        # -- the dashboard is never stale after a change through the other instance ------------
        for n, (reader, writer) in enumerate([(on_a, on_b), (on_b, on_a)] * 2):
            before = reader.get("/api/v1/fleet-data/dashboard", headers=boss).json()
            assert reader.get("/api/v1/fleet-data/dashboard", headers=boss).json() == before
            r = writer.post("/api/v1/fleet-data/devices", headers=boss,
                            json={"device_number": f"DASH-{n}", "device_type": "mask_tester"})
            assert r.status_code == 201, r.text
            after = reader.get("/api/v1/fleet-data/dashboard", headers=boss).json()
            assert after["total_devices"] == before["total_devices"] + 1
        for _ in range(4):  # and through the proxy, whichever instance answers
            before = proxy.get("/api/v1/fleet-data/dashboard", headers=boss).json()
            r = proxy.post("/api/v1/fleet-data/devices", headers=boss, json={
                "device_number": f"DASHP-{time.monotonic_ns()}", "device_type": "mask_tester"})
            assert r.status_code == 201, r.text
            after = proxy.get("/api/v1/fleet-data/dashboard", headers=boss).json()
            assert after["total_devices"] == before["total_devices"] + 1

        # -- a roll-out finishes with its devices reporting to both instances ------------------
        maker = _login(proxy, "mk")
        r = proxy.post("/api/v1/fleet-software/rollouts", headers=maker, json={
            "version_id": version_id, "device_ids": ids[:4], "group_size": 2,
            "success_threshold": 100})
        assert r.status_code == 201, r.text
        rollout_id = r.json()["id"]
        r = proxy.post(f"/api/v1/fleet-software/rollouts/{rollout_id}/start", headers=maker)
        assert r.status_code == 200, r.text
        hosts = [on_a, on_b, on_a, on_b]  # each group has a device on each instance
        done: set[int] = set()
        deadline = time.monotonic() + 60
        while len(done) < 4 and time.monotonic() < deadline:
            for i, sim in enumerate(sims[:4]):
                if i in done:
                    continue
                http, head = hosts[i], {"Authorization": f"TargetToken {sim.token}"}
                poll = http.get(f"/DEFAULT/controller/v1/{sim.controller_id}", headers=head)
                link = poll.json().get("_links", {}).get("deploymentBase")
                if link is None:
                    continue
                path = httpx.URL(link["href"]).path
                assert http.get(path, headers=head).status_code == 200
                action = path.rsplit("/", 1)[-1]
                fb = f"/DEFAULT/controller/v1/{sim.controller_id}/deploymentBase/{action}/feedback"
                r = http.post(fb, headers=head, json=_feedback("closed", "success"))
                assert r.status_code == 200, r.text
                done.add(i)
        assert done == {0, 1, 2, 3}
        rollout = proxy.get(f"/api/v1/fleet-software/rollouts/{rollout_id}", headers=maker).json()
        assert rollout["status"] == "finished", rollout

        # -- five failed logins spread over both instances throttle the user ------------------
        codes = []
        for http in (on_a, on_b, on_a, on_b, on_a):
            codes.append(http.post("/api/v1/auth/login",
                                   json={"username": "target", "password": "wrong"}).status_code)
        assert codes == [401] * 5
        r = on_b.post("/api/v1/auth/login", json={"username": "target", "password": PASSWORD})
        assert r.status_code == 429
        r = proxy.post("/api/v1/auth/login", json={"username": "target", "password": PASSWORD})
        assert r.status_code == 429
    # both instances really served: each wrote access lines
    assert any("/api/v1/auth/login" in line for line in a.lines())
    assert any("/api/v1/auth/login" in line for line in b.lines())
