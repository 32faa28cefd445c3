"""Devices: create/update/delete rules, filters, sorting, paging and template validation."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select, text

from fleet.models import DeviceSoftware, SystemLog
from tests.factories import add_report, add_template, create_customer, create_device
from tests.fleet_data.conftest import API


async def test_create_get_update_device(client: httpx.AsyncClient, manager, operator) -> None:
    customer = await create_customer(client, manager, "Acme")
    device = await create_device(
        client,
        manager,
        "MT-001",
        serial_number="SN-77",
        kind_of_device="bench",
        customer_id=customer["id"],
        configuration={"port": "COM3"},
    )
    assert device["status"] == "active"
    assert device["customer_name"] == "Acme"
    assert device["due_state"] == "never_tested"
    assert device["last_test_at"] is None
    r = await client.get(f"{API}/devices/{device['id']}", headers=operator)
    assert r.status_code == 200
    assert r.json()["customer_name"] == "Acme"
    r = await client.patch(
        f"{API}/devices/{device['id']}",
        headers=manager,
        json={"status": "maintenance", "customer_id": None},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "maintenance"
    assert r.json()["customer_name"] is None
    r = await client.patch(f"{API}/devices/{device['id']}", headers=manager, json={})
    assert r.status_code == 200


async def test_device_bad_input(client: httpx.AsyncClient, manager) -> None:
    await create_device(client, manager, "MT-1")
    cases = [
        ({"device_number": "MT-1", "device_type": "mask_tester"}, 409),
        ({"device_number": "MT-2", "device_type": "mask_tester", "customer_id": 999}, 422),
        ({"device_number": "MT-2", "device_type": "mask_tester", "status": "broken"}, 422),
        ({"device_number": "MT-2", "device_type": "Mask Tester"}, 422),
        ({"device_number": "", "device_type": "mask_tester"}, 422),
        ({"device_number": "has space", "device_type": "mask_tester"}, 422),
        ({"device_number": "x" * 101, "device_type": "mask_tester"}, 422),
        ({"device_number": "MT-2"}, 422),
        ({"device_number": "MT-2", "device_type": "mask_tester", "configuration": [1]}, 422),
        (
            {
                "device_number": "MT-2",
                "device_type": "mask_tester",
                "configuration": {"x": "y" * 70_000},
            },
            422,
        ),
        ({"device_number": "MT-2", "device_type": "mask_tester", "id": 5}, 422),
    ]
    for body, status in cases:
        r = await client.post(f"{API}/devices", headers=manager, json=body)
        assert r.status_code == status, (body, r.text)
    r = await client.get(f"{API}/devices", headers=manager)
    assert r.headers["X-Total-Count"] == "1"
    other = await create_device(client, manager, "MT-3")
    for body, status in [
        ({"device_number": "MT-1"}, 409),
        ({"status": None}, 422),
        ({"status": "lost"}, 422),
        ({"customer_id": 12345}, 422),
        ({"device_type": None}, 422),
    ]:
        r = await client.patch(f"{API}/devices/{other['id']}", headers=manager, json=body)
        assert r.status_code == status, (body, r.text)
    for method in ("GET", "PATCH", "DELETE"):
        r = await client.request(
            method, f"{API}/devices/424242", headers=manager, json={} if method == "PATCH" else None
        )
        assert r.status_code == 404


async def test_configuration_checked_against_device_config_template(
    client: httpx.AsyncClient, manager, sessionmaker
) -> None:
    schema = {
        "type": "object",
        "properties": {"max_pressure": {"type": "number", "maximum": 100}},
        "required": ["max_pressure"],
    }
    await add_template(sessionmaker, "mask_tester", schema, {"max_pressure": 50})
    r = await client.post(
        f"{API}/devices",
        headers=manager,
        json={
            "device_number": "T1",
            "device_type": "mask_tester",
            "configuration": {"max_pressure": 500},
        },
    )
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["path"] == "/max_pressure"
    device = await create_device(client, manager, "T2")
    assert device["configuration"] == {"max_pressure": 50}  # started from the template defaults
    r = await client.patch(
        f"{API}/devices/{device['id']}", headers=manager, json={"configuration": {"other": 1}}
    )
    assert r.status_code == 422
    r = await client.patch(
        f"{API}/devices/{device['id']}",
        headers=manager,
        json={"configuration": {"max_pressure": 7}},
    )
    assert r.json()["configuration"] == {"max_pressure": 7}
    r = await client.patch(
        f"{API}/devices/{device['id']}", headers=manager, json={"configuration": None}
    )
    assert r.json()["configuration"] == {"max_pressure": 50}  # null resets to the defaults
    flow = await create_device(
        client, manager, "F1", device_type="flow_meter", configuration={"anything": True}
    )
    r = await client.patch(
        f"{API}/devices/{flow['id']}", headers=manager, json={"device_type": "mask_tester"}
    )
    assert r.status_code == 422  # its configuration does not fit the new type's template


async def test_filters_sorting_and_paging(client: httpx.AsyncClient, manager, operator) -> None:
    acme = await create_customer(client, manager, "Acme")
    zulu = await create_customer(client, manager, "Zulu")
    await create_device(client, manager, "A-3", customer_id=zulu["id"], serial_number="S-X1")
    await create_device(client, manager, "A-1", customer_id=acme["id"], status="maintenance")
    await create_device(client, manager, "B-2", device_type="flow_meter", kind_of_device="meter")
    await create_device(client, manager, "A_9", status="decommissioned")

    async def numbers(**params: object) -> list[str]:
        r = await client.get(f"{API}/devices", headers=operator, params=params)
        assert r.status_code == 200, r.text
        items = r.json()
        assert int(r.headers["X-Total-Count"]) >= len(items)
        return [d["device_number"] for d in items]

    assert await numbers() == ["A-1", "A-3", "A_9", "B-2"]
    assert await numbers(sort="-device_number") == ["B-2", "A_9", "A-3", "A-1"]
    assert await numbers(device_type="flow_meter") == ["B-2"]
    assert await numbers(kind_of_device="meter") == ["B-2"]
    assert await numbers(status="maintenance") == ["A-1"]
    assert await numbers(customer_id=zulu["id"]) == ["A-3"]
    assert await numbers(q="s-x") == ["A-3"]
    assert await numbers(q="a_") == ["A_9"]
    assert await numbers(sort="customer_name") == ["A-1", "A-3", "B-2", "A_9"]
    assert (await numbers(sort="-customer_name"))[:2] == ["A-3", "A-1"]
    assert await numbers(skip=1, limit=2) == ["A-3", "A_9"]
    r = await client.get(f"{API}/devices", headers=operator, params={"limit": 1})
    assert r.headers["X-Total-Count"] == "4"
    for params in (
        {"status": "bogus"},
        {"device_type": "DROP TABLE"},
        {"sort": "password"},
        {"skip": -1},
        {"limit": 501},
        {"customer_id": 0},
        {"customer_id": 999},
        {"overdue": "maybe"},
        {"due_before": "yesterday"},
        {"q": "x" * 101},
    ):
        r = await client.get(f"{API}/devices", headers=operator, params=params)
        assert r.status_code == 422, params


async def test_delete_device_guards(client: httpx.AsyncClient, manager, sessionmaker) -> None:
    tested = await create_device(client, manager, "T-1")
    await add_report(sessionmaker, tested["id"], datetime.now(UTC))
    r = await client.delete(f"{API}/devices/{tested['id']}", headers=manager)
    assert r.status_code == 409
    assert "inactive" in r.json()["detail"]
    installed = await create_device(client, manager, "T-2")
    async with sessionmaker() as s, s.begin():
        s.add(DeviceSoftware(device_id=installed["id"], installation_status="installed"))
    r = await client.delete(f"{API}/devices/{installed['id']}", headers=manager)
    assert r.status_code == 409
    free = await create_device(client, manager, "T-3")
    r = await client.patch(
        f"{API}/devices/{free['id']}", headers=manager, json={"status": "inactive"}
    )
    r = await client.delete(f"{API}/devices/{free['id']}", headers=manager)
    assert r.status_code == 204
    async with sessionmaker() as s:
        actions = list(await s.scalars(select(SystemLog.action).order_by(SystemLog.id)))
    assert actions[-1] == "device.delete"
    r = await client.get(f"{API}/devices", headers=manager)
    assert [d["device_number"] for d in r.json()] == ["T-1", "T-2"]


async def test_device_types_lists(client: httpx.AsyncClient, manager, operator) -> None:
    await create_device(client, manager, "A", kind_of_device="bench")
    await create_device(client, manager, "B", device_type="flow_meter")
    r = await client.get(f"{API}/device-types", headers=operator)
    assert r.json()["in_use"] == ["flow_meter", "mask_tester"]
    assert r.json()["kinds_in_use"] == ["bench"]
    assert "pressure_sensor" in r.json()["known"]


async def test_out_of_range_ids_and_deep_json(client: httpx.AsyncClient, manager) -> None:
    huge = 2**40
    for path in (f"/devices/{huge}", f"/customers/{huge}", f"/devices/{huge}/history"):
        r = await client.get(API + path, headers=manager)
        assert r.status_code == 404, (path, r.text)  # the input policy: no such row can exist
    r = await client.get(f"{API}/devices", headers=manager, params={"customer_id": huge})
    assert r.status_code == 422
    r = await client.post(
        f"{API}/devices",
        headers=manager,
        json={"device_number": "X", "device_type": "mask_tester", "customer_id": huge},
    )
    assert r.status_code == 422
    deep = "[" * 5000 + "]" * 5000
    r = await client.post(
        f"{API}/devices",
        headers={**manager, "Content-Type": "application/json"},
        content='{"device_number": "X", "device_type": "mask_tester", "configuration": {"a": '
        + deep
        + "}}",
    )
    assert r.status_code in (400, 422)


async def test_delete_refused_when_another_module_refers_to_the_device(
    client: httpx.AsyncClient, manager, sessionmaker
) -> None:
    device = await create_device(client, manager, "REF-1")
    async with sessionmaker() as s, s.begin():
        await s.execute(
            text("CREATE TABLE fdm_test_refs (device_id INTEGER NOT NULL REFERENCES devices(id))")
        )
        await s.execute(text("INSERT INTO fdm_test_refs VALUES (:d)"), {"d": device["id"]})
    try:
        r = await client.delete(f"{API}/devices/{device['id']}", headers=manager)
        assert r.status_code == 409
        assert "still referenced" in r.json()["detail"]
        r = await client.get(f"{API}/devices/{device['id']}/history", headers=manager)
        assert [e["title"] for e in r.json()["entries"]] == ["Device created"]
    finally:
        async with sessionmaker() as s, s.begin():
            await s.execute(text("DROP TABLE fdm_test_refs"))
