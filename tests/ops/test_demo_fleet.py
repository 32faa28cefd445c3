"""The living demo: `fleet serve --demo` seeds the demo data and its testers poll the server, so
the demo roll-out, once started by the user, moves past its first group and finishes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from fleet.ops.demo_fleet import demo_numbers
from fleet.settings import Settings
from tests.support import base_env, serve

POLL_SECONDS = "0.5"  # the demo testers' poll interval (FLEET_DEMO_POLL_SECONDS)


def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.3)


def test_demo_rollout_moves_through_its_groups(settings: Settings, tmp_path: Path) -> None:
    env = base_env(
        settings.resolved_database_url(),
        settings.data_dir,
        FLEET_DEMO_POLL_SECONDS=POLL_SECONDS,
    )
    with serve(env, tmp_path / "server.log", ["--demo"]) as served:
        base = f"{served.base}/api/v1"
        r = httpx.post(f"{base}/auth/login", json={"username": "maker1", "password": "pass"})
        assert r.status_code == 200, r.text
        h = {"Authorization": f"Bearer {r.json()['access_token']}"}
        listed = httpx.get(f"{base}/fleet-software/rollouts", headers=h).json()
        by_name = {ro["name"]: ro for ro in listed}
        staged = next(ro for name, ro in by_name.items() if name.endswith("2.10.0 staged"))
        # consistent without devices: one finished, one waiting for the user's Start
        assert sorted(ro["status"] for ro in listed) == ["draft", "finished"]
        assert staged["status"] == "draft" and staged["started_at"] is None

        def detail() -> dict[str, Any]:
            answer = httpx.get(f"{base}/fleet-software/rollouts/{staged['id']}", headers=h)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        # nothing moves a draft, however often the testers poll
        time.sleep(float(POLL_SECONDS) * 4)
        assert detail()["status"] == "draft"

        started = httpx.post(f"{base}/fleet-software/rollouts/{staged['id']}/start", headers=h)
        assert started.status_code == 200, started.text
        assert [g["status"] for g in started.json()["groups"]] == ["running", "waiting"]

        past_first = _wait(
            "the demo testers finish the first group and the second starts",
            lambda: (d := detail())["current_group"] >= 1 and d,
            60,
        )
        assert past_first["groups"][0]["status"] == "succeeded"
        assert past_first["groups"][0]["completed_count"] == 3
        assert past_first["groups"][1]["status"] in ("running", "succeeded")

        done = _wait("the roll-out finishes", lambda: (d := detail())["status"] == "finished" and d,
                     60)
        assert [g["completed_count"] for g in done["groups"]] == [3, 3]
        assert done["finished_at"] is not None

        # the testers reported: they run 2.10.0 now, and they are seen online
        devices = httpx.get(
            f"{base}/fleet-data/devices", headers=h, params={"q": "MT-0001", "limit": 5}
        ).json()
        mt = next(d for d in devices if d["device_number"] == "MT-0001")
        software = httpx.get(f"{base}/fleet-software/devices/{mt['id']}/software", headers=h)
        assert software.status_code == 200, software.text
        firmware = [s for s in software.json() if s.get("installed_version") == "2.10.0"]
        assert firmware, software.json()
    polling = len(demo_numbers())
    assert polling >= 6 and f"demo fleet: {polling} simulated testers" in served.log.read_text()
