"""Lists answered from plain rows say exactly what the one-item answers (pydantic models) say:
same keys in the same order, same values and formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.factories import add_report, create_customer, create_device, create_scenario
from tests.fleet_data.conftest import API


async def test_device_list_items_equal_the_device_answers(
    client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]], sessionmaker: Any
) -> None:
    headers = role_headers["manager"]
    acme = await create_customer(client, headers, "Acme Ümlaut")
    now = datetime.now(UTC)
    made = [
        await create_device(client, headers, "A1", customer_id=acme["id"], kind_of_device="bench"),
        await create_device(client, headers, "A2", configuration={"port": "COM1", "x": [1, 2.5]}),
        await create_device(client, headers, "A3", status="maintenance", serial_number="SN-1"),
    ]
    await add_report(sessionmaker, made[0]["id"], now, due=now - timedelta(days=1))
    await add_report(sessionmaker, made[1]["id"], now, due=now + timedelta(days=10))
    r = await client.get(f"{API}/devices", headers=headers, params={"sort": "-device_number"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    listed = r.json()
    for item in listed:
        one = (await client.get(f"{API}/devices/{item['id']}", headers=headers)).json()
        assert list(item.items()) == list(one.items())
    assert [d["due_state"] for d in listed] == ["never_tested", "due_soon", "overdue"]


async def test_scenario_list_items_equal_the_scenario_answers(
    client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]
) -> None:
    headers = role_headers["superuser"]
    short = {"steps": [{"step": 1, "action": "visual_inspection"}], "interval_months": 12}
    await create_scenario(client, headers, name="B short form", test_flow=short)
    await create_scenario(client, headers, name="A full form")
    listed = (await client.get("/api/v1/scenarios", headers=headers)).json()
    assert [s["name"] for s in listed] == ["A full form", "B short form"]
    for item in listed:
        one = (await client.get(f"/api/v1/scenarios/{item['id']}", headers=headers)).json()
        assert one.pop("report_count") == 0 and item.pop("report_count") is None
        assert list(item.items()) == list(one.items())


async def test_software_list_items_equal_the_software_answers(
    client: httpx.AsyncClient, sessionmaker: Any
) -> None:
    from tests.conftest import add_user, bearer, login
    from tests.factories import add_devices, create_software, create_version, finish, install
    from tests.software.conftest import API as SOFTWARE_API

    await add_user(sessionmaker, "maker_l", "maker")
    headers = bearer(await login(client, "maker_l"))
    tool = await create_software(client, headers, "Tool Ü", description=None, vendor=None)
    fw = await create_software(client, headers, "Firmware", license_type="MIT")
    for number, extra in (("1.9.0", {}), ("1.10.0", {}), ("2.0.0-rc.1", {"is_beta": True})):
        await create_version(client, headers, fw["id"], number, artifact=False, **extra)
    stable = await create_version(client, headers, tool["id"], "0.1.0")
    [device] = await add_devices(sessionmaker, kind="bench")
    r = await install(client, headers, device, stable["id"])
    await finish(client, headers, r.json()["id"])
    r = await client.get(f"{SOFTWARE_API}/software", headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["X-Total-Count"] == "2"
    listed = r.json()
    assert [(s["name"], s["version_count"], s["installation_count"]) for s in listed] == [
        ("Firmware", 3, 0),
        ("Tool Ü", 1, 1),
    ]
    assert [s["latest_stable_version"] for s in listed] == ["1.10.0", "0.1.0"]
    for item in listed:
        one = (await client.get(f"{SOFTWARE_API}/software/{item['id']}", headers=headers)).json()
        assert list(item.items()) == list(one.items())
