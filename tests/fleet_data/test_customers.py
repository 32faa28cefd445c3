"""Customers: list/search/sort, create with contact_info checks, update, delete guards."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from fleet.models import SystemLog
from tests.factories import add_report, create_customer, create_device
from tests.fleet_data.conftest import API


async def test_create_read_update_customer(
    client: httpx.AsyncClient, manager, sessionmaker
) -> None:
    created = await create_customer(
        client,
        manager,
        "  Acme Rescue  ",
        email="ops@acme.example",
        phone="+48 123 456 789",
        company="Acme Sp. z o.o.",
        region={"code": "PL-MZ"},
    )
    assert created["name"] == "Acme Rescue"
    assert created["contact_info"]["region"] == {"code": "PL-MZ"}  # unknown keys are kept
    assert created["device_count"] == 0
    cid = created["id"]
    r = await client.patch(
        f"{API}/customers/{cid}", headers=manager, json={"contact_info": {"notes": "VIP"}}
    )
    assert r.status_code == 200
    assert r.json()["contact_info"] == {"notes": "VIP"}
    r = await client.get(f"{API}/customers/{cid}", headers=manager)
    assert r.json()["name"] == "Acme Rescue"
    async with sessionmaker() as s:
        logs = (await s.scalars(select(SystemLog).order_by(SystemLog.id))).all()
    actions = [log.action for log in logs if log.action and log.action.startswith("customer")]
    assert actions == ["customer.create", "customer.update"]
    assert logs[-1].details["changed"]["contact_info"]["new"] == {"notes": "VIP"}


async def test_contact_info_validation(client: httpx.AsyncClient, manager) -> None:
    bad = [
        {"email": "not-an-email"},
        {"phone": "call me"},
        {"company": "x" * 256},
        {"notes": 5},
        {"address": "a" * 501},
        {"blob": "x" * 20_000},
    ]
    for contact in bad:
        r = await client.post(
            f"{API}/customers", headers=manager, json={"name": "X", "contact_info": contact}
        )
        assert r.status_code == 422, (contact, r.text)
    for body in (
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 256},
        {"contact_info": {}},
        {"name": "A", "contact_info": [1]},
        {"name": "A", "extra": 1},
    ):
        r = await client.post(f"{API}/customers", headers=manager, json=body)
        assert r.status_code == 422, (body, r.text)
    r = await client.get(f"{API}/customers", headers=manager)
    assert r.json() == []


async def test_duplicate_names_conflict(client: httpx.AsyncClient, manager) -> None:
    await create_customer(client, manager, "Fire Brigade")
    other = await create_customer(client, manager, "Mine Rescue")
    r = await client.post(f"{API}/customers", headers=manager, json={"name": "fire brigade"})
    assert r.status_code == 409
    r = await client.patch(
        f"{API}/customers/{other['id']}", headers=manager, json={"name": "FIRE BRIGADE"}
    )
    assert r.status_code == 409
    r = await client.patch(f"{API}/customers/{other['id']}", headers=manager, json={"name": None})
    assert r.status_code == 422


async def test_list_search_sort_and_paging(client: httpx.AsyncClient, manager, operator) -> None:
    await create_customer(client, manager, "Bravo", company="Harbour Works")
    await create_customer(client, manager, "Alpha", email="a@north.example")
    await create_customer(client, manager, "Charlie_1")
    r = await client.get(f"{API}/customers", headers=operator)
    assert [c["name"] for c in r.json()] == ["Alpha", "Bravo", "Charlie_1"]
    assert r.headers["X-Total-Count"] == "3"
    r = await client.get(f"{API}/customers", headers=operator, params={"sort": "-name", "limit": 2})
    assert [c["name"] for c in r.json()] == ["Charlie_1", "Bravo"]
    assert r.headers["X-Total-Count"] == "3"
    for q, names in (
        ("harbour", ["Bravo"]),
        ("NORTH", ["Alpha"]),
        ("e_", ["Charlie_1"]),
        ("%", []),
    ):
        r = await client.get(f"{API}/customers", headers=operator, params={"q": q})
        assert [c["name"] for c in r.json()] == names, q
    for params in ({"sort": "bogus"}, {"skip": -1}, {"limit": 501}, {"limit": 0}, {"q": "x" * 101}):
        r = await client.get(f"{API}/customers", headers=operator, params=params)
        assert r.status_code == 422, params


async def test_delete_guarded_by_devices_and_reports(
    client: httpx.AsyncClient, manager, sessionmaker
) -> None:
    lonely = await create_customer(client, manager, "Lonely")
    busy = await create_customer(client, manager, "Busy")
    device = await create_device(client, manager, "M-1", customer_id=busy["id"])
    await create_device(client, manager, "M-2", customer_id=busy["id"])
    r = await client.get(f"{API}/customers/{busy['id']}", headers=manager)
    assert r.json()["device_count"] == 2
    r = await client.delete(f"{API}/customers/{busy['id']}", headers=manager)
    assert r.status_code == 409
    assert "2 device(s)" in r.json()["detail"]
    report_id = await add_report(sessionmaker, device["id"], datetime.now(UTC))
    async with sessionmaker() as s, s.begin():
        from fleet.models import TestReport

        report = await s.get(TestReport, report_id)
        assert report is not None
        report.customer_id, report.device_id = lonely["id"], None
    r = await client.delete(f"{API}/customers/{lonely['id']}", headers=manager)
    assert r.status_code == 409
    assert "1 test report(s)" in r.json()["detail"]
    fresh = await create_customer(client, manager, "Fresh")
    r = await client.delete(f"{API}/customers/{fresh['id']}", headers=manager)
    assert r.status_code == 204
    r = await client.get(f"{API}/customers/{fresh['id']}", headers=manager)
    assert r.status_code == 404
    r = await client.delete(f"{API}/customers/{fresh['id']}", headers=manager)
    assert r.status_code == 404
