"""The installation state machine through the API: every legal and illegal move, refusals,
rollback, outdated marking and the device view."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import DeviceSoftware
from fleet.software import queries
from tests.factories import add_devices, create_software, create_version, finish, install, move
from tests.software.conftest import API

STATUSES = ("pending", "in_progress", "completed", "failed", "canceled")
LEGAL = {
    ("pending", "in_progress"),
    ("pending", "canceled"),
    ("in_progress", "completed"),
    ("in_progress", "failed"),
    ("in_progress", "canceled"),
}
PATHS = {
    "pending": [],
    "in_progress": ["in_progress"],
    "completed": ["in_progress", "completed"],
    "failed": ["in_progress", "failed"],
    "canceled": ["canceled"],
}


@pytest.fixture
async def world(
    client: httpx.AsyncClient, maker: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> dict[str, Any]:
    sw = await create_software(client, maker)
    v1 = await create_version(
        client, maker, sw["id"], "1.0.0", compatibility={"device_types": ["mask_tester"]}
    )
    v2 = await create_version(client, maker, sw["id"], "1.1.0")
    devices = await add_devices(sessionmaker, 6, kind="bench")
    [sensor] = await add_devices(sessionmaker, 1, device_type="pressure_sensor", kind="bench")
    return {"sw": sw, "v1": v1, "v2": v2, "devices": devices, "sensor": sensor}


async def _status(factory: async_sessionmaker[AsyncSession], device_id: int) -> DeviceSoftware:
    async with factory() as session:
        ds = await session.scalar(
            select(DeviceSoftware).where(DeviceSoftware.device_id == device_id)
        )
    assert ds is not None
    return ds


async def test_every_legal_and_illegal_transition(
    client: httpx.AsyncClient, maker: dict[str, str], world: dict[str, Any]
) -> None:
    devices = iter(world["devices"])
    for source, path in PATHS.items():
        for target in STATUSES:
            if (source, target) in LEGAL:
                continue
            r = await install(client, maker, next(devices, world["devices"][0]), world["v1"]["id"])
            if r.status_code == 409:  # device busy from an earlier round: use a fresh one
                continue
            iid = r.json()["id"]
            for step in path:
                extra = {"error_message": "boom"} if step == "failed" else {}
                assert (await move(client, maker, iid, step, **extra)).status_code == 200
            r = await move(client, maker, iid, target)
            assert r.status_code == 409, (source, target, r.text)
            assert "cannot move" in r.json()["detail"]
            r = await client.get(f"{API}/installations/{iid}", headers=maker)
            assert r.json()["status"] == source
            if source in ("pending", "in_progress"):
                await move(client, maker, iid, "canceled")
    r = await move(client, maker, 1, "exploded")
    assert r.status_code == 422


async def test_legal_paths_update_device_software(
    client: httpx.AsyncClient,
    maker: dict[str, str],
    world: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    d_ok, d_fail, d_cancel, d_cancel_running = world["devices"][:4]
    v1 = world["v1"]
    r = await install(client, maker, d_ok, v1["id"])
    assert r.status_code == 201
    inst = r.json()
    assert inst["status"] == "pending" and inst["new_version"] == "1.0.0"
    assert inst["previous_version"] is None
    assert inst["rollback_point"] == {
        "software_id": world["sw"]["id"],
        "version_id": None,
        "version": None,
        "configuration": None,
        "installation_status": "not_installed",
    }
    assert (await _status(sessionmaker, d_ok)).installation_status == "installing"
    r = await move(client, maker, inst["id"], "in_progress", progress=40, log_line="flashing")
    assert r.status_code == 200
    r = await client.patch(
        f"{API}/installations/{inst['id']}", json={"progress": 80}, headers=maker
    )
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    r = await move(client, maker, inst["id"], "completed")
    done = r.json()
    assert done["status"] == "completed" and done["completed_at"]
    assert "40% flashing" in done["installation_log"] and "80%" in done["installation_log"]
    ds = await _status(sessionmaker, d_ok)
    # 1.1.0 is stable and fits every device, so 1.0.0 is outdated at once.
    assert (ds.installation_status, ds.installed_version) == ("outdated", "1.0.0")
    assert ds.installation_date is not None

    r = await install(client, maker, d_fail, v1["id"])
    await finish(client, maker, r.json()["id"], "failed")
    r = await client.get(f"{API}/installations/{r.json()['id']}", headers=maker)
    assert r.json()["error_message"] == "flash write error"
    assert "error: flash write error" in r.json()["installation_log"]
    assert (await _status(sessionmaker, d_fail)).installation_status == "failed"

    r = await install(client, maker, d_cancel, v1["id"])
    assert (await move(client, maker, r.json()["id"], "canceled")).status_code == 200
    assert (await _status(sessionmaker, d_cancel)).installation_status == "not_installed"

    r = await install(client, maker, d_cancel_running, v1["id"])
    await move(client, maker, r.json()["id"], "in_progress")
    assert (await move(client, maker, r.json()["id"], "canceled")).status_code == 200

    r = await client.get(f"{API}/installations", params={"status": "failed"}, headers=maker)
    assert [i["device_id"] for i in r.json()] == [d_fail]
    assert r.json()[0]["software_name"] == "Tester FW"
    r = await client.get(f"{API}/installations", params={"device_id": d_ok}, headers=maker)
    assert r.headers["X-Total-Count"] == "1"
    r = await client.get(
        f"{API}/installations",
        params={"software_id": world["sw"]["id"], "action": "install", "limit": 2},
        headers=maker,
    )
    assert r.headers["X-Total-Count"] == "4" and len(r.json()) == 2
    r = await client.get(
        f"{API}/installations", params={"since": "2100-01-01T00:00:00Z"}, headers=maker
    )
    assert r.json() == []


async def test_refusals(
    client: httpx.AsyncClient, maker: dict[str, str], world: dict[str, Any]
) -> None:
    dev = world["devices"][0]
    r = await install(client, maker, world["sensor"], world["v1"]["id"])
    assert r.status_code == 409 and "not compatible" in r.json()["detail"]
    assert (await install(client, maker, dev, world["v1"]["id"])).status_code == 201
    r = await install(client, maker, dev, world["v2"]["id"])
    assert r.status_code == 409 and "unfinished installation" in r.json()["detail"]
    r = await install(client, maker, world["devices"][1], world["v1"]["id"], "update")
    assert r.status_code == 409 and "use install" in r.json()["detail"]
    r = await install(client, maker, world["devices"][1], world["v1"]["id"], "uninstall")
    assert r.status_code == 409
    r = await install(client, maker, world["devices"][1], world["v1"]["id"], "rollback")
    assert r.status_code == 409 and "nothing to roll back" in r.json()["detail"]
    r = await install(client, maker, world["devices"][1], world["v1"]["id"], "reboot")
    assert r.status_code == 422
    assert (await install(client, maker, 9999, world["v1"]["id"])).status_code == 404
    assert (await install(client, maker, dev, 9999)).status_code == 404
    await client.patch(
        f"{API}/software/{world['sw']['id']}", json={"is_active": False}, headers=maker
    )
    r = await install(client, maker, world["devices"][2], world["v1"]["id"])
    assert r.status_code == 409 and "inactive" in r.json()["detail"]
    assert (await client.get(f"{API}/installations/9999", headers=maker)).status_code == 404


async def test_update_uninstall_and_rollback(
    client: httpx.AsyncClient,
    maker: dict[str, str],
    world: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    dev = world["devices"][0]
    v1, v2 = world["v1"], world["v2"]
    r = await install(client, maker, dev, v1["id"])
    await finish(client, maker, r.json()["id"])
    async with sessionmaker() as session, session.begin():
        ds = await session.scalar(select(DeviceSoftware).where(DeviceSoftware.device_id == dev))
        assert ds is not None
        ds.configuration = {"pressure_unit": "mbar"}
    r = await install(client, maker, dev, v1["id"])
    assert r.status_code == 409 and "already runs" in r.json()["detail"]
    r = await install(client, maker, dev, v2["id"], "update")
    assert r.status_code == 201
    update = r.json()
    assert update["previous_version"] == "1.0.0" and update["new_version"] == "1.1.0"
    assert update["rollback_point"]["version_id"] == v1["id"]
    assert update["rollback_point"]["configuration"] == {"pressure_unit": "mbar"}
    await finish(client, maker, update["id"])
    ds = await _status(sessionmaker, dev)
    assert (ds.installed_version, ds.installation_status) == ("1.1.0", "installed")

    r = await install(client, maker, dev, v2["id"], "rollback")
    assert r.status_code == 409 and "rollback point" in r.json()["detail"]
    async with sessionmaker() as session, session.begin():
        ds = await session.scalar(select(DeviceSoftware).where(DeviceSoftware.device_id == dev))
        assert ds is not None
        ds.configuration = {"pressure_unit": "hPa"}
    r = await install(client, maker, dev, v1["id"], "rollback")
    assert r.status_code == 201, r.text
    await finish(client, maker, r.json()["id"])
    ds = await _status(sessionmaker, dev)
    assert ds.version_id == v1["id"] and ds.installed_version == "1.0.0"
    assert ds.configuration == {"pressure_unit": "mbar"}
    assert ds.installation_status == "outdated"

    r = await install(client, maker, dev, v2["id"], "uninstall")
    assert r.status_code == 409 and "runs 1.0.0" in r.json()["detail"]
    r = await install(client, maker, dev, v1["id"], "uninstall")
    assert r.status_code == 201 and r.json()["new_version"] is None
    await finish(client, maker, r.json()["id"])
    ds = await _status(sessionmaker, dev)
    assert (ds.version_id, ds.installation_status) == (None, "not_installed")

    r = await client.get(f"{API}/devices/{dev}/software", headers=maker)
    assert r.status_code == 200
    [row] = r.json()
    assert row["software_name"] == "Tester FW" and row["latest_stable_version"] == "1.1.0"
    assert (await client.get(f"{API}/devices/9999/software", headers=maker)).status_code == 404


async def test_outdated_follows_new_stable_versions(
    client: httpx.AsyncClient,
    maker: dict[str, str],
    world: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    dev = world["devices"][0]
    r = await install(client, maker, dev, world["v2"]["id"])
    await finish(client, maker, r.json()["id"])
    assert (await _status(sessionmaker, dev)).installation_status == "installed"
    beta = await create_version(client, maker, world["sw"]["id"], "2.0.0", is_beta=True)
    assert (await _status(sessionmaker, dev)).installation_status == "installed"
    incompatible = await create_version(
        client, maker, world["sw"]["id"], "2.1.0", compatibility={"device_types": ["flow_meter"]}
    )
    assert (await _status(sessionmaker, dev)).installation_status == "installed"
    r = await client.patch(
        f"{API}/versions/{beta['id']}", json={"is_beta": False, "is_stable": True}, headers=maker
    )
    assert r.status_code == 200
    assert (await _status(sessionmaker, dev)).installation_status == "outdated"
    await client.patch(f"{API}/versions/{beta['id']}", json={"is_stable": False}, headers=maker)
    assert (await _status(sessionmaker, dev)).installation_status == "installed"
    assert incompatible["id"]


async def test_concurrent_double_start(
    client: httpx.AsyncClient, maker: dict[str, str], world: dict[str, Any]
) -> None:
    r = await install(client, maker, world["devices"][0], world["v1"]["id"])
    iid = r.json()["id"]
    results = await asyncio.gather(
        move(client, maker, iid, "in_progress"), move(client, maker, iid, "in_progress")
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    r = await client.get(f"{API}/installations/{iid}", headers=maker)
    assert r.json()["installation_log"].count("[in_progress]") == 1


async def test_next_pending_for_device(
    client: httpx.AsyncClient,
    maker: dict[str, str],
    world: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    dev = world["devices"][0]
    other = await create_software(client, maker, "Tool")
    tool = await create_version(client, maker, other["id"], "0.1")
    first = (await install(client, maker, dev, world["v1"]["id"])).json()
    second = (await install(client, maker, dev, tool["id"])).json()
    async with sessionmaker() as session:
        nxt = await queries.next_pending_for_device(session, dev)
        assert nxt is not None and nxt.id == first["id"]
    await finish(client, maker, first["id"])
    async with sessionmaker() as session:
        nxt = await queries.next_pending_for_device(session, dev)
        assert nxt is not None and nxt.id == second["id"]
    await move(client, maker, second["id"], "canceled")
    async with sessionmaker() as session:
        assert await queries.next_pending_for_device(session, dev) is None
