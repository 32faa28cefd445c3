"""Device configuration: list, update one against its type's template, bulk apply."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import Device
from tests.config.conftest import API
from tests.factories import add_customer, add_device

URL = f"{API}/device-configs"
TEMPLATE = {
    "name": "Mask tester config",
    "template_type": "device_config",
    "category": "mask_tester",
    "schema": {
        "type": "object",
        "properties": {
            "target_pressure_mbar": {"type": "number", "maximum": 0},
            "sample_rate_hz": {"type": "integer", "minimum": 1},
        },
    },
    "default_values": {"target_pressure_mbar": -14, "sample_rate_hz": 10},
}


async def test_update_and_bulk_apply(
    client: httpx.AsyncClient, cfg: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await add_customer(sessionmaker, name="ACME", contact_info=None)
    ids = [
        await add_device(sessionmaker, "MT-1", customer_id=acme),
        await add_device(sessionmaker, "MT-2", configuration={"site": "A"}, customer_id=acme),
        await add_device(
            sessionmaker,
            "PS-1",
            device_type="pressure_sensor",
            configuration={"range": 100},
            customer_id=acme,
        ),
    ]
    tpl = (await client.post(f"{API}/json-templates", json=TEMPLATE, headers=cfg)).json()
    r = await client.get(URL, params={"device_type": "mask_tester"}, headers=cfg)
    assert [d["device_number"] for d in r.json()] == ["MT-1", "MT-2"]

    r = await client.put(
        f"{URL}/{ids[0]}", json={"configuration": {"sample_rate_hz": 0}}, headers=cfg
    )
    assert r.status_code == 422 and r.json()["detail"]["errors"][0]["path"] == "/sample_rate_hz"
    r = await client.put(
        f"{URL}/{ids[0]}", json={"configuration": {"sample_rate_hz": 5}}, headers=cfg
    )
    assert r.status_code == 200 and r.json()["configuration"] == {"sample_rate_hz": 5}
    r = await client.put(f"{URL}/{ids[2]}", json={"configuration": {"anything": True}}, headers=cfg)
    assert r.status_code == 200
    assert (
        await client.put(f"{URL}/999999", json={"configuration": {}}, headers=cfg)
    ).status_code == 404

    body = {"template_id": tpl["id"], "mode": "merge", "dry_run": True}
    r = await client.post(f"{URL}/apply-template", json=body, headers=cfg)
    assert r.json()["matched"] == 2 and r.json()["changed"] == 2
    async with sessionmaker() as session:
        assert (await session.get(Device, ids[1])).configuration == {"site": "A"}
    r = await client.post(f"{URL}/apply-template", json={**body, "dry_run": False}, headers=cfg)
    assert r.status_code == 200 and r.json()["device_ids"] == ids[:2]
    async with sessionmaker() as session:
        rows = {d.device_number: d.configuration for d in await session.scalars(select(Device))}
    assert rows["MT-1"] == {"target_pressure_mbar": -14, "sample_rate_hz": 10}
    assert rows["MT-2"] == {"site": "A", "target_pressure_mbar": -14, "sample_rate_hz": 10}
    assert rows["PS-1"] == {"anything": True}


async def test_bulk_apply_is_all_or_nothing(
    client: httpx.AsyncClient, cfg: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await add_customer(sessionmaker, name="ACME", contact_info=None)
    await add_device(sessionmaker, "MT-1", configuration={}, customer_id=acme)
    await add_device(sessionmaker, "MT-2", configuration={"sample_rate_hz": 10}, customer_id=acme)
    tpl = (await client.post(f"{API}/json-templates", json=TEMPLATE, headers=cfg)).json()
    strict = {
        **TEMPLATE,
        "name": "strict",
        "schema": {
            "type": "object",
            "properties": {"sample_rate_hz": {"type": "integer", "maximum": 5}},
        },
        "default_values": {},
    }
    # A newer, stricter template for the type: merged defaults no longer validate.
    assert (await client.post(f"{API}/json-templates", json=strict, headers=cfg)).status_code == 201
    r = await client.post(f"{URL}/apply-template", json={"template_id": tpl["id"]}, headers=cfg)
    assert r.status_code == 422
    assert "MT-1" in r.json()["detail"]["message"]
    async with sessionmaker() as session:
        confs = [d.configuration for d in await session.scalars(select(Device).order_by(Device.id))]
    assert confs == [{}, {"sample_rate_hz": 10}]
    r = await client.post(
        f"{URL}/apply-template",
        json={"template_id": tpl["id"], "filters": {"device_type": "x"}},
        headers=cfg,
    )
    assert r.status_code == 400
    sys_tpl = {**TEMPLATE, "template_type": "system_config", "category": "units"}
    other = (await client.post(f"{API}/json-templates", json=sys_tpl, headers=cfg)).json()
    r = await client.post(f"{URL}/apply-template", json={"template_id": other["id"]}, headers=cfg)
    assert r.status_code == 400


async def test_access(client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (await client.get(URL, headers=role_headers["manager"])).status_code == 403
