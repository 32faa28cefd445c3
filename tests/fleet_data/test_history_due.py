"""Device history (tests, software, audited changes) and the due-date filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from fleet.models import Software, SoftwareInstallation, SoftwareVersion
from tests.factories import add_report, create_device
from tests.fleet_data.conftest import API


async def test_history_merges_tests_software_and_changes(
    client: httpx.AsyncClient, manager, operator, sessionmaker
) -> None:
    device = await create_device(client, manager, "H-1")
    other = await create_device(client, manager, "H-2")
    now = datetime.now(UTC)
    await add_report(
        sessionmaker,
        device["id"],
        now - timedelta(days=400),
        "passed",
        due=now - timedelta(days=35),
    )
    await add_report(sessionmaker, device["id"], now - timedelta(days=2), "failed", operator="mgr")
    await add_report(sessionmaker, other["id"], now, "passed")
    async with sessionmaker() as s, s.begin():
        sw = Software(name="Tester firmware")
        s.add(sw)
        await s.flush()
        version = SoftwareVersion(software_id=sw.id, version_number="2.0.0")
        s.add(version)
        await s.flush()
        s.add(
            SoftwareInstallation(
                device_id=device["id"],
                version_id=version.id,
                action="update",
                status="completed",
                previous_version="1.0.0",
                new_version="2.0.0",
                started_at=now - timedelta(days=10),
            )
        )
    r = await client.patch(
        f"{API}/devices/{device['id']}",
        headers=manager,
        json={"status": "maintenance", "configuration": {"a": 1}},
    )
    assert r.status_code == 200
    await client.patch(f"{API}/devices/{other['id']}", headers=manager, json={"status": "inactive"})

    r = await client.get(f"{API}/devices/{device['id']}/history", headers=operator)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["device"]["device_number"] == "H-1"
    assert body["device"]["due_state"] == "overdue"
    kinds = [e["kind"] for e in body["entries"]]
    assert kinds == ["change", "change", "test", "software", "test"]
    change = body["entries"][0]
    assert change["user"] == "mgr"
    assert "status: active → maintenance" in change["summary"]
    assert "configuration changed" in change["summary"]
    assert change["details"]["changed"]["configuration"]["new"] == {"a": 1}
    test = body["entries"][2]
    assert test["details"]["verdict"] == "failed"
    assert test["details"]["scenario"] == "Yearly mask test"
    assert test["user"] == "mgr"
    software = body["entries"][3]
    assert software["title"] == "Software update: Tester firmware"
    assert "1.0.0 → 2.0.0" in software["summary"]
    assert body["entries"][1]["title"] == "Device created"
    r = await client.get(
        f"{API}/devices/{device['id']}/history", headers=operator, params={"limit": 2}
    )
    assert len(r.json()["entries"]) == 2
    r = await client.get(f"{API}/devices/999/history", headers=operator)
    assert r.status_code == 404
    r = await client.get(
        f"{API}/devices/{device['id']}/history", headers=operator, params={"limit": 0}
    )
    assert r.status_code == 422


async def test_due_states_and_filters(client: httpx.AsyncClient, manager, sessionmaker) -> None:
    now = datetime.now(UTC)
    overdue = await create_device(client, manager, "D-overdue")
    soon = await create_device(client, manager, "D-soon")
    later = await create_device(client, manager, "D-later")
    await create_device(client, manager, "D-never")
    await add_report(
        sessionmaker, overdue["id"], now - timedelta(days=370), due=now - timedelta(days=5)
    )
    await add_report(
        sessionmaker, soon["id"], now - timedelta(days=350), due=now + timedelta(days=10)
    )
    await add_report(
        sessionmaker, later["id"], now - timedelta(days=10), due=now + timedelta(days=355)
    )

    async def numbers(**params: object) -> list[str]:
        r = await client.get(f"{API}/devices", headers=manager, params=params)
        assert r.status_code == 200, r.text
        assert int(r.headers["X-Total-Count"]) == len(r.json())
        return [d["device_number"] for d in r.json()]

    r = await client.get(f"{API}/devices", headers=manager)
    states = {d["device_number"]: d["due_state"] for d in r.json()}
    assert states == {
        "D-later": "ok",
        "D-never": "never_tested",
        "D-overdue": "overdue",
        "D-soon": "due_soon",
    }
    assert await numbers(overdue="true") == ["D-overdue"]
    assert await numbers(overdue="false") == ["D-later", "D-never", "D-soon"]
    assert await numbers(never_tested="true") == ["D-never"]
    assert await numbers(never_tested="false") == ["D-later", "D-overdue", "D-soon"]
    cutoff = (now + timedelta(days=30)).date().isoformat()
    assert await numbers(due_before=cutoff) == ["D-overdue", "D-soon"]
    assert await numbers(due_before=cutoff, overdue="false") == ["D-soon"]
    assert await numbers(sort="next_due_at") == ["D-overdue", "D-soon", "D-later", "D-never"]
    assert await numbers(sort="-next_due_at") == ["D-later", "D-soon", "D-overdue", "D-never"]
    r = await client.get(f"{API}/devices/{overdue['id']}", headers=manager)
    assert r.json()["interval_months"] == 12
    assert r.json()["next_due_at"] is not None
