"""Dashboard counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.factories import add_report, create_customer, create_device
from tests.fleet_data.conftest import API


async def test_dashboard_counts(client: httpx.AsyncClient, manager, sessionmaker) -> None:
    empty = await client.get(f"{API}/dashboard", headers=manager)
    assert empty.status_code == 200
    assert empty.json()["total_devices"] == 0
    assert empty.json()["tests_by_verdict"] == []
    acme = await create_customer(client, manager, "Acme")
    beta = await create_customer(client, manager, "Beta")
    now = datetime.now(UTC)
    d1 = await create_device(client, manager, "1", customer_id=acme["id"])
    d2 = await create_device(client, manager, "2", customer_id=acme["id"], status="maintenance")
    d3 = await create_device(client, manager, "3", customer_id=beta["id"], device_type="flow_meter")
    await create_device(client, manager, "4")
    await add_report(
        sessionmaker, d1["id"], now - timedelta(days=1), "passed", due=now - timedelta(days=1)
    )
    await add_report(
        sessionmaker, d2["id"], now - timedelta(days=3), "failed", due=now + timedelta(days=5)
    )
    await add_report(
        sessionmaker, d3["id"], now - timedelta(days=3), "warning", due=now + timedelta(days=200)
    )
    await add_report(sessionmaker, d3["id"], now - timedelta(days=90), "passed")
    r = await client.get(f"{API}/dashboard", headers=manager)
    assert r.status_code == 200
    body = r.json()
    assert body["total_devices"] == 4
    assert body["total_customers"] == 2
    assert {i["key"]: i["count"] for i in body["by_status"]} == {"active": 3, "maintenance": 1}
    assert {i["key"]: i["count"] for i in body["by_device_type"]} == {
        "mask_tester": 3,
        "flow_meter": 1,
    }
    assert [(i["label"], i["count"]) for i in body["by_customer"]] == [("Acme", 2), ("Beta", 1)]
    assert body["devices_without_customer"] == 1
    assert body["overdue"] == 1
    assert body["due_next_30_days"] == 1
    assert body["never_tested"] == 1
    assert body["tests_last_30_days"] == 3
    assert {i["key"]: i["count"] for i in body["tests_by_verdict"]} == {
        "passed": 1,
        "failed": 1,
        "warning": 1,
    }
