"""Rows changed by read-modify-write are read under the row's lock (``fleet.db.lock_row``):
JSON columns above all, and a roll-out's status.

Each test changes a row in another transaction that holds its lock while the request under test
runs: the request must wait, then build on the committed change instead of a snapshot taken
before it (which would silently undo the other change, or audit a wrong old value).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.db import lock_row
from fleet.models import Configuration, Device, DeviceAttributes, Rollout, SystemLog
from fleet.models.base import Base
from fleet.settings import Settings
from tests.config.conftest import API
from tests.factories import add_customer, add_device, add_version, ddi, issue_token, target

TEMPLATE = {
    "name": "Mask tester config",
    "template_type": "device_config",
    "category": "mask_tester",
    "schema": {"type": "object"},
    "default_values": {"sample_rate_hz": 10},
}


pytestmark = pytest.mark.usefixtures("close_event_bus")


async def while_held(
    factory: async_sessionmaker[AsyncSession],
    entity: type[Base],
    key: int,
    change: Callable[[Any], None],
    request: Callable[[], Awaitable[httpx.Response]],
) -> httpx.Response:
    """Lock a row, start ``request``, change the row, commit; answer the request's answer."""
    async with factory() as session, session.begin():
        row = await lock_row(session, entity, key)
        assert row is not None
        task = asyncio.ensure_future(request())
        await asyncio.sleep(0.4)
        assert not task.done(), "the request did not wait for the row's lock"
        change(row)
    return await task


async def _last_audit(factory: async_sessionmaker[AsyncSession], action: str) -> Any:
    async with factory() as session:
        row = await session.scalar(
            select(SystemLog).where(SystemLog.action == action).order_by(SystemLog.id.desc())
        )
        assert row is not None
        return row.details


async def test_template_merge_keeps_a_concurrent_configuration(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    cfg = role_headers["configurator"]
    acme = await add_customer(sessionmaker, name="ACME", contact_info=None)
    device = await add_device(sessionmaker, "MT-1", configuration={"site": "A"}, customer_id=acme)
    tpl = (await client.post(f"{API}/json-templates", json=TEMPLATE, headers=cfg)).json()

    def change(row: Device) -> None:
        row.configuration = {"site": "B", "room": 7}

    r = await while_held(
        sessionmaker,
        Device,
        device,
        change,
        lambda: client.post(
            f"{API}/device-configs/apply-template",
            json={"template_id": tpl["id"], "mode": "merge"},
            headers=cfg,
        ),
    )
    assert r.status_code == 200, r.text
    async with sessionmaker() as session:
        stored = (await session.get(Device, device)).configuration  # type: ignore[union-attr]
    assert stored == {"site": "B", "room": 7, "sample_rate_hz": 10}


async def test_configuration_update_audits_the_value_it_replaced(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    acme = await add_customer(sessionmaker, name="ACME", contact_info=None)
    device = await add_device(sessionmaker, "MT-1", configuration={"site": "A"}, customer_id=acme)

    def change(row: Device) -> None:
        row.configuration = {"site": "B"}

    r = await while_held(
        sessionmaker,
        Device,
        device,
        change,
        lambda: client.put(
            f"{API}/device-configs/{device}",
            json={"configuration": {"site": "C"}},
            headers=role_headers["configurator"],
        ),
    )
    assert r.status_code == 200, r.text
    details = await _last_audit(sessionmaker, "config.device.update")
    assert details["changes"]["configuration"] == {"old": {"site": "B"}, "new": {"site": "C"}}


async def test_device_type_change_keeps_a_concurrent_configuration(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    acme = await add_customer(sessionmaker, name="ACME", contact_info=None)
    device = await add_device(sessionmaker, "MT-1", configuration={"site": "A"}, customer_id=acme)

    def change(row: Device) -> None:
        row.configuration = {"site": "B"}

    r = await while_held(
        sessionmaker,
        Device,
        device,
        change,
        lambda: client.patch(
            f"/api/v1/fleet-data/devices/{device}",
            json={"device_type": "pressure_sensor"},
            headers=role_headers["manager"],
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json()["configuration"] == {"site": "B"}
    async with sessionmaker() as session:
        stored = await session.get(Device, device)
        assert stored is not None and stored.configuration == {"site": "B"}


async def test_system_config_update_audits_the_value_it_replaced(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    cfg = role_headers["configurator"]
    url = f"{API}/system-configs/by-key/bench_limits"
    r = await client.put(url, json={"config_value": {"max": 1}}, headers=cfg)
    assert r.status_code == 201, r.text

    def change(row: Configuration) -> None:
        row.config_value = {"max": 2}

    r = await while_held(
        sessionmaker,
        Configuration,
        r.json()["id"],
        change,
        lambda: client.put(url, json={"config_value": {"max": 3}}, headers=cfg),
    )
    assert r.status_code == 200, r.text
    details = await _last_audit(sessionmaker, "config.system.update")
    assert details["changes"]["config_value"] == {"old": {"max": 2}, "new": {"max": 3}}


async def test_device_attributes_merge_keeps_a_concurrent_report(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    acme = await add_customer(sessionmaker, name="ACME", contact_info=None)
    device = await add_device(sessionmaker, "MT-A", customer_id=acme)
    headers = target(await issue_token(client, role_headers["maker"], device))
    url = ddi("MT-A", "/configData")
    r = await client.put(url, headers=headers, json={"data": {"serial": "S1"}})
    assert r.status_code == 200, r.text

    def change(row: DeviceAttributes) -> None:
        row.attributes = {**row.attributes, "hwRevision": "2"}

    r = await while_held(
        sessionmaker,
        DeviceAttributes,
        device,
        change,
        lambda: client.put(
            url, headers=headers, json={"mode": "merge", "data": {"firmware": "1.0.0"}}
        ),
    )
    assert r.status_code == 200, r.text
    async with sessionmaker() as session:
        row = await session.get(DeviceAttributes, device)
        assert row is not None
        assert row.attributes == {"serial": "S1", "hwRevision": "2", "firmware": "1.0.0"}


async def test_rollout_pause_waits_for_the_engine(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    role_headers: dict[str, dict[str, str]],
) -> None:
    """A user's pause must not overwrite a roll-out the engine finished meanwhile."""
    maker = role_headers["maker"]
    version = await add_version(sessionmaker, settings)
    device_id = await add_device(sessionmaker, "MT-RO")
    r = await client.post(
        "/api/v1/fleet-software/rollouts",
        json={"version_id": version.id, "device_ids": [device_id], "group_size": 1},
        headers=maker,
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = await client.post(f"/api/v1/fleet-software/rollouts/{rid}/start", headers=maker)
    assert r.status_code == 200 and r.json()["status"] == "running", r.text

    def finish(row: Rollout) -> None:
        row.status = "finished"

    r = await while_held(
        sessionmaker,
        Rollout,
        rid,
        finish,
        lambda: client.post(f"/api/v1/fleet-software/rollouts/{rid}/pause", headers=maker),
    )
    assert r.status_code == 409, r.text
    async with sessionmaker() as session:
        stored = await session.get(Rollout, rid)
        assert stored is not None and stored.status == "finished"
