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
