"""Catalog CRUD, filters, the one-query listing, delete rules and the dashboard."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import SoftwareVersion, SystemLog
from tests.factories import add_devices, create_software, create_version, finish, install
from tests.software.conftest import API
from tests.support import sql_statements


async def test_crud_and_audit(
    client: httpx.AsyncClient, maker: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sw = await create_software(client, maker, description="Bench firmware")
    assert sw["version_count"] == 0 and sw["latest_stable_version"] is None
    r = await client.patch(
        f"{API}/software/{sw['id']}", json={"vendor": "Dräger", "is_active": False}, headers=maker
    )
    assert r.status_code == 200 and r.json()["vendor"] == "Dräger"
    assert r.json()["is_active"] is False
    r = await client.get(f"{API}/software/{sw['id']}", headers=maker)
    assert r.json()["name"] == "Tester FW"
    r = await client.delete(f"{API}/software/{sw['id']}", headers=maker)
    assert r.status_code == 204
    assert (await client.get(f"{API}/software/{sw['id']}", headers=maker)).status_code == 404
    async with sessionmaker() as session:
        actions = set((await session.scalars(select(SystemLog.action))).all())
    assert {"software.create", "software.update", "software.delete"} <= actions


async def test_bad_input(client: httpx.AsyncClient, maker: dict[str, str]) -> None:
    bad: list[dict[str, Any]] = [
        {},
        {"name": ""},
        {"name": "x", "category": "game"},
        {"name": "x", "repository_url": "javascript:alert(1)"},
        {"name": "x", "unknown": 1},
        {"name": "x" * 300},
    ]
    for body in bad:
        r = await client.post(f"{API}/software", json=body, headers=maker)
        assert r.status_code == 422, body
    assert (await client.get(f"{API}/software", headers=maker)).json() == []


async def test_list_filters_counts_and_latest_stable(
    client: httpx.AsyncClient, maker: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    fw = await create_software(client, maker, "Tester FW")
    await create_software(client, maker, "Calibration tool", category="tool", vendor="Other")
    await create_software(client, maker, "Old driver", category="driver", is_active=False)
    for number, extra in [
        ("2.9.0", {}),
        ("2.10.0", {}),
        ("3.0.0-beta.1", {"is_beta": True, "is_stable": False}),
    ]:
        await create_version(client, maker, fw["id"], number, artifact=number == "2.10.0", **extra)
    [dev] = await add_devices(sessionmaker, kind="bench")
    r = await install(client, maker, dev, (await _version_id(sessionmaker, "2.10.0")))
    assert r.status_code == 201, r.text

    r = await client.get(f"{API}/software", headers=maker)
    assert r.headers["X-Total-Count"] == "3"
    rows = {s["name"]: s for s in r.json()}
    assert rows["Tester FW"]["version_count"] == 3
    assert rows["Tester FW"]["latest_stable_version"] == "2.10.0"
    assert rows["Tester FW"]["installation_count"] == 1
    assert rows["Calibration tool"]["version_count"] == 0

    async def names(**params: Any) -> list[str]:
        r = await client.get(f"{API}/software", params=params, headers=maker)
        assert r.status_code == 200, r.text
        return [s["name"] for s in r.json()]

    assert await names(category="tool") == ["Calibration tool"]
    assert await names(vendor="Other") == ["Calibration tool"]
    assert await names(is_active=False) == ["Old driver"]
    assert await names(q="TESTER") == ["Tester FW"]
    assert await names(q="100%_") == []
    assert await names(platform="arm", limit=1) == ["Calibration tool"]
    r = await client.get(f"{API}/software", params={"skip": 10}, headers=maker)
    assert r.json() == [] and r.headers["X-Total-Count"] == "3"
    r = await client.get(f"{API}/software", params={"category": "game"}, headers=maker)
    assert r.status_code == 422


async def _version_id(factory: async_sessionmaker[AsyncSession], number: str) -> int:
    async with factory() as session:
        vid = await session.scalar(
            select(SoftwareVersion.id).where(SoftwareVersion.version_number == number)
        )
    assert vid is not None
    return vid


async def test_catalog_listing_is_one_query(
    client: httpx.AsyncClient, maker: dict[str, str], app: Any
) -> None:
    for i in range(12):
        sw = await create_software(client, maker, f"Package {i:02d}")
        if i % 3 == 0:
            await create_version(client, maker, sw["id"], "1.0.0", artifact=False)
    with sql_statements(app.state.engine) as statements:
        r = await client.get(f"{API}/software", params={"limit": 5}, headers=maker)
    assert r.status_code == 200 and len(r.json()) == 5
    assert r.headers["X-Total-Count"] == "12"
    catalog = [s for s in statements if "software_versions" in s or "FROM software" in s]
    assert len(catalog) == 1, catalog


async def test_delete_refused_with_installations_and_cascades_otherwise(
    client: httpx.AsyncClient, maker: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sw = await create_software(client, maker)
    v = await create_version(client, maker, sw["id"], "1.0.0")
    [dev] = await add_devices(sessionmaker, kind="bench")
    r = await install(client, maker, dev, v["id"])
    await finish(client, maker, r.json()["id"])
    r = await client.delete(f"{API}/software/{sw['id']}", headers=maker)
    assert r.status_code == 409 and "deactivate" in r.json()["detail"]

    other = await create_software(client, maker, "Spare")
    v2 = await create_version(client, maker, other["id"], "0.1.0")
    r = await client.delete(f"{API}/software/{other['id']}", headers=maker)
    assert r.status_code == 204
    assert (await client.get(f"{API}/versions/{v2['id']}", headers=maker)).status_code == 404


async def test_dashboard(
    client: httpx.AsyncClient, maker: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sw = await create_software(client, maker)
    await create_software(client, maker, "Tool", category="tool")
    v1 = await create_version(client, maker, sw["id"], "1.0.0")
    [dev, dev2] = await add_devices(sessionmaker, 2, kind="bench")
    r = await install(client, maker, dev, v1["id"])
    await finish(client, maker, r.json()["id"])
    r = await install(client, maker, dev2, v1["id"])
    await finish(client, maker, r.json()["id"], "failed")
    await create_version(client, maker, sw["id"], "1.1.0")
    r = await client.get(f"{API}/dashboard/stats", headers=maker)
    assert r.status_code == 200
    stats = r.json()
    assert stats["totals"]["software"] == 2 and stats["totals"]["versions"] == 2
    assert stats["software_by_category"] == {"firmware": 1, "tool": 1}
    assert stats["installations_by_status"] == {"completed": 1, "failed": 1}
    assert stats["outdated_by_software"] == [
        {"software_id": sw["id"], "software_name": "Tester FW", "devices": 1}
    ]
    assert stats["recent_releases"][0]["version_number"] == "1.1.0"
