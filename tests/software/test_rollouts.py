"""Staged roll-outs: groups advance on success, pause on errors, survive a restart."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.app import create_app
from fleet.settings import Settings
from tests.factories import add_devices, create_software, create_version, finish, install
from tests.software.conftest import API

R = f"{API}/rollouts"


@pytest.fixture
async def setup(
    client: httpx.AsyncClient, maker: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> dict[str, Any]:
    sw = await create_software(client, maker)
    version = await create_version(
        client, maker, sw["id"], "2.0.0", compatibility={"device_types": ["mask_tester"]}
    )
    devices = await add_devices(sessionmaker, 10, kind="bench")
    sensors = await add_devices(sessionmaker, 2, device_type="pressure_sensor", kind="bench")
    return {"sw": sw, "version": version, "devices": devices, "sensors": sensors}


async def _pending(client: httpx.AsyncClient, maker: dict[str, str], rid: int) -> list[int]:
    r = await client.get(
        f"{API}/installations",
        params={"rollout_id": rid, "status": "pending", "limit": 500},
        headers=maker,
    )
    return sorted(i["id"] for i in r.json())


async def _rollout(client: httpx.AsyncClient, maker: dict[str, str], rid: int) -> dict[str, Any]:
    r = await client.get(f"{R}/{rid}", headers=maker)
    assert r.status_code == 200
    data: dict[str, Any] = r.json()
    return data


async def test_groups_advance_on_success_and_finish(
    client: httpx.AsyncClient, maker: dict[str, str], setup: dict[str, Any]
) -> None:
    body = {
        "version_id": setup["version"]["id"],
        "filter": {"device_type": "mask_tester"},
        "group_size": 4,
        "success_threshold": 75,
        "error_threshold": 50,
    }
    r = await client.post(R, json=body, headers=maker)
    assert r.status_code == 201, r.text
    ro = r.json()
    assert ro["status"] == "draft" and ro["total_devices"] == 10
    assert [g["device_count"] for g in ro["groups"]] == [4, 4, 2]
    assert ro["groups"][0]["counts"] == {"waiting": 4}
    assert await _pending(client, maker, ro["id"]) == []

    r = await client.post(f"{R}/{ro['id']}/start", json={}, headers=maker)
    assert r.status_code == 200 and r.json()["status"] == "running"
    assert (await client.post(f"{R}/{ro['id']}/start", headers=maker)).status_code == 409
    first = await _pending(client, maker, ro["id"])
    assert len(first) == 4
    await finish(client, maker, first[0])
    await finish(client, maker, first[1])
    assert len(await _pending(client, maker, ro["id"])) == 2  # 50 %: group 2 not started yet
    await finish(client, maker, first[2])  # 75 % reached: group 2 starts
    ro = await _rollout(client, maker, ro["id"])
    assert ro["current_group"] == 1 and ro["groups"][0]["status"] == "succeeded"
    assert ro["groups"][0]["counts"] == {"completed": 3, "pending": 1}
    assert ro["groups"][1]["counts"] == {"pending": 4}
    second = [i for i in await _pending(client, maker, ro["id"]) if i not in first]
    for iid in second[:3]:
        await finish(client, maker, iid)
    third = [i for i in await _pending(client, maker, ro["id"]) if i not in first + second]
    assert len(third) == 2
    await finish(client, maker, third[0])
    await finish(client, maker, third[1])
    ro = await _rollout(client, maker, ro["id"])
    assert ro["status"] == "finished" and ro["finished_at"]
    assert ro["completed"] == 8 and ro["progress_percent"] == 80.0
    # Stragglers still count after the roll-out finished.
    await finish(client, maker, first[3])
    ro = await _rollout(client, maker, ro["id"])
    assert ro["status"] == "finished" and ro["completed"] == 9
    r = await client.get(R, params={"status": "finished"}, headers=maker)
    assert [x["id"] for x in r.json()] == [ro["id"]] and r.headers["X-Total-Count"] == "1"


async def test_pauses_on_errors_resumes_after_restart_and_cancels(
    client: httpx.AsyncClient,
    maker: dict[str, str],
    setup: dict[str, Any],
    settings: Settings,
) -> None:
    ids = setup["devices"][:6] + setup["sensors"]
    body = {
        "version_id": setup["version"]["id"],
        "device_ids": ids,
        "group_size": 3,
        "success_threshold": 100,
        "error_threshold": 30,
    }
    r = await client.post(R, json=body, headers=maker)
    ro = r.json()
    assert ro["total_devices"] == 6
    assert sorted(e["device_id"] for e in ro["excluded"]) == setup["sensors"]
    await client.post(f"{R}/{ro['id']}/start", headers=maker)
    first = await _pending(client, maker, ro["id"])
    await finish(client, maker, first[0], "failed")  # 33 % > 30 %
    ro = await _rollout(client, maker, ro["id"])
    assert ro["status"] == "paused" and "error threshold" in ro["pause_reason"]
    await finish(client, maker, first[1])
    await finish(client, maker, first[2])
    assert len(await _pending(client, maker, ro["id"])) == 0  # paused: no next group

    # A fresh app on the same database (a restart) carries on from the stored state.
    restarted = create_app(settings)
    transport = httpx.ASGITransport(app=restarted, client=("10.1.2.3", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c2:
        r = await c2.post(f"{R}/{ro['id']}/resume", headers=maker)
        assert r.status_code == 200, r.text
        # The group ended below 100 %; resuming accepts it and starts group 2.
        ro = r.json()
        assert ro["status"] == "running" and ro["current_group"] == 1
        second = await _pending(c2, maker, ro["id"])
        assert len(second) == 3
        await finish(c2, maker, second[0])
        r = await c2.post(f"{R}/{ro['id']}/pause", headers=maker)
        assert r.json()["status"] == "paused" and r.json()["pause_reason"] == "paused by a user"
        assert (await c2.post(f"{R}/{ro['id']}/pause", headers=maker)).status_code == 409
        r = await c2.post(f"{R}/{ro['id']}/cancel", headers=maker)
        assert r.status_code == 200 and r.json()["status"] == "canceled"
        assert r.json()["groups"][1]["counts"] == {"completed": 1, "canceled": 2}
        assert await _pending(c2, maker, ro["id"]) == []
        assert (await c2.post(f"{R}/{ro['id']}/resume", headers=maker)).status_code == 409
    await restarted.state.engine.dispose()


async def test_group_below_threshold_pauses_and_busy_devices_count_as_failed(
    client: httpx.AsyncClient, maker: dict[str, str], setup: dict[str, Any]
) -> None:
    devices = setup["devices"][:4]
    # Device 0 already runs 2.0.0 (counts as completed), device 1 is busy (counts as failed).
    r = await install(client, maker, devices[0], setup["version"]["id"])
    await finish(client, maker, r.json()["id"])
    other = await create_version(client, maker, setup["sw"]["id"], "1.9.0")
    busy = await install(client, maker, devices[1], other["id"])
    assert busy.status_code == 201
    body = {
        "version_id": setup["version"]["id"],
        "device_ids": devices,
        "group_size": 4,
        "success_threshold": 90,
        "error_threshold": 40,
    }
    ro = (await client.post(R, json=body, headers=maker)).json()
    ro = (await client.post(f"{R}/{ro['id']}/start", headers=maker)).json()
    g = ro["groups"][0]
    assert (g["completed_count"], g["failed_count"]) == (1, 1)
    assert g["counts"] == {"skipped": 2, "pending": 2}
    pending = await _pending(client, maker, ro["id"])
    for iid in pending:
        await finish(client, maker, iid)
    ro = await _rollout(client, maker, ro["id"])
    assert ro["status"] == "paused" and "below the success threshold" in ro["pause_reason"]
    assert ro["groups"][0]["status"] == "below_threshold"


async def test_bad_rollouts(
    client: httpx.AsyncClient, maker: dict[str, str], setup: dict[str, Any]
) -> None:
    vid = setup["version"]["id"]
    bad: list[dict[str, Any]] = [
        {"version_id": vid},
        {"version_id": vid, "device_ids": [1], "filter": {}},
        {"version_id": vid, "device_ids": [1, 1]},
        {"version_id": vid, "device_ids": [1], "group_size": 0},
        {"version_id": vid, "device_ids": [1], "success_threshold": 101},
        {"version_id": vid, "device_ids": [1], "error_threshold": -1},
        {"version_id": vid, "filter": {"colour": "red"}},
        {"version_id": vid, "device_ids": [99999]},
        {"version_id": vid, "device_ids": setup["sensors"]},
        {"version_id": vid, "filter": {"device_type": "nothing"}},
    ]
    for body in bad:
        r = await client.post(R, json=body, headers=maker)
        assert r.status_code == 422, (body, r.text)
    r = await client.post(R, json={"version_id": 9999, "device_ids": [1]}, headers=maker)
    assert r.status_code == 404
    no_file = await create_version(client, maker, setup["sw"]["id"], "3.0.0", artifact=False)
    r = await client.post(R, json={"version_id": no_file["id"], "device_ids": [1]}, headers=maker)
    assert r.status_code == 409
    assert (await client.get(f"{R}/999", headers=maker)).status_code == 404
    assert (await client.post(f"{R}/999/start", headers=maker)).status_code == 404
    assert (await client.get(R, headers=maker)).json() == []
