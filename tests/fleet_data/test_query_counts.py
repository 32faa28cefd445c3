"""No N+1: the number of SQL statements per request does not grow with the rows answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.factories import add_report, create_customer, create_device
from tests.fleet_data.conftest import API
from tests.support import sql_statements


async def _count(
    app: Any, client: httpx.AsyncClient, headers: dict[str, str], path: str, **params: Any
) -> int:
    with sql_statements(app.state.engine) as statements:
        r = await client.get(API + path, headers=headers, params=params)
        assert r.status_code == 200, r.text
    return len(statements)


async def test_statement_counts_are_constant(
    app, client: httpx.AsyncClient, manager, sessionmaker
) -> None:
    customers = [await create_customer(client, manager, f"C{i}") for i in range(3)]
    now = datetime.now(UTC)
    for i in range(12):
        device = await create_device(
            client, manager, f"D{i:02}", customer_id=customers[i % 3]["id"]
        )
        if i % 2:
            await add_report(
                sessionmaker, device["id"], now - timedelta(days=i), due=now + timedelta(days=i)
            )
    small = await _count(app, client, manager, "/devices", limit=1)
    large = await _count(app, client, manager, "/devices", limit=12)
    filtered = await _count(
        app, client, manager, "/devices", limit=12, overdue="false", sort="-next_due_at", q="D"
    )
    assert small == large == filtered
    assert await _count(app, client, manager, "/customers", limit=1) == await _count(
        app, client, manager, "/customers", limit=3
    )
    one = await _count(app, client, manager, f"/devices/{device['id']}/history")
    await add_report(sessionmaker, device["id"], now, "failed")
    for status in ("maintenance", "active", "inactive"):
        await client.patch(
            f"{API}/devices/{device['id']}", headers=manager, json={"status": status}
        )
    assert await _count(app, client, manager, f"/devices/{device['id']}/history") == one
    dashboard = await _count(app, client, manager, "/dashboard")
    await create_device(client, manager, "EXTRA", device_type="flow_meter", status="maintenance")
    assert await _count(app, client, manager, "/dashboard") == dashboard


async def test_scenario_list_statements_do_not_grow_with_the_page(
    app: Any, client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]
) -> None:
    from tests.factories import create_scenario

    headers = role_headers["superuser"]
    for i in range(6):
        await create_scenario(client, headers, name=f"Scenario {i}")

    async def count(**params: Any) -> tuple[int, list[Any], str]:
        with sql_statements(app.state.engine) as statements:
            r = await client.get("/api/v1/scenarios", headers=headers, params=params)
            assert r.status_code == 200, r.text
        return len(statements), r.json(), r.headers["X-Total-Count"]

    one, page1, total1 = await count(limit=1)
    six, page6, total6 = await count(limit=6)
    assert one == six
    assert (len(page1), len(page6), total1, total6) == (1, 6, "6", "6")
    assert [s["name"] for s in page6] == [f"Scenario {i}" for i in range(6)]
    assert all(s["step_count"] == len(s["test_flow"]["steps"]) for s in page6)


async def test_software_list_statements_do_not_grow_with_the_page(
    app: Any, client: httpx.AsyncClient, sessionmaker: Any
) -> None:
    from tests.conftest import add_user, bearer, login
    from tests.factories import add_devices, create_software, create_version, finish, install
    from tests.software.conftest import API as SOFTWARE_API

    await add_user(sessionmaker, "maker_q", "maker")
    headers = bearer(await login(client, "maker_q"))
    devices = await add_devices(sessionmaker, 2)
    for i in range(6):
        sw = await create_software(client, headers, f"Package {i}")
        version = await create_version(client, headers, sw["id"], f"1.{i}.0", artifact=i % 2 == 0)
        if i % 2 == 0:
            r = await install(client, headers, devices[i % 2], version["id"])
            await finish(client, headers, r.json()["id"])

    async def count(**params: Any) -> tuple[int, list[Any], str]:
        with sql_statements(app.state.engine) as statements:
            r = await client.get(f"{SOFTWARE_API}/software", headers=headers, params=params)
            assert r.status_code == 200, r.text
        return len(statements), r.json(), r.headers["X-Total-Count"]

    one, page1, total1 = await count(limit=1)
    six, page6, total6 = await count(limit=6)
    filtered, found, total_found = await count(limit=6, q="package", vendor="Acme")
    assert found == page6
    assert one == six == filtered
    assert (len(page1), len(page6), total1, total6, total_found) == (1, 6, "6", "6", "6")
    assert [s["installation_count"] for s in page6] == [1, 0, 1, 0, 1, 0]
    assert all(s["version_count"] == 1 for s in page6)
    _, empty, total_past = await count(skip=6)
    assert (empty, total_past) == ([], "6")
