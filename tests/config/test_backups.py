"""Configuration backups and restore: the seed's request shapes, checksums, exact dry-run
changes, all-or-nothing apply, automatic pre-restore backup."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.config import backups
from fleet.models import Configuration, Device, JsonTemplate, SystemLog, Translation
from tests.config.conftest import API
from tests.factories import add_customer, add_device

SEED_DATA: dict[str, Any] = {
    "configurations": [
        {
            "config_key": "api_timeout",
            "config_value": {"timeout": 30, "retry": 3},
            "component": "FDM",
        },
    ],
    "translations": [{"key": "demo.hello", "language": "pl", "value": "Cześć"}],
}


async def _setup(client: httpx.AsyncClient, cfg: dict[str, str]) -> None:
    await client.post(
        f"{API}/system-configs",
        json={"config_key": "units", "config_value": {"pressure": "mbar"}},
        headers=cfg,
    )
    await client.post(
        f"{API}/json-templates",
        json={
            "name": "Units",
            "template_type": "system_config",
            "category": "units",
            "schema": {
                "type": "object",
                "required": ["pressure"],
                "properties": {"pressure": {"enum": ["mbar", "Pa", "hPa"]}},
            },
            "default_values": {"pressure": "mbar"},
        },
        headers=cfg,
    )
    await client.put(
        f"{API}/translations",
        json={"key": "demo.hello", "language": "en", "value": "Hello"},
        headers=cfg,
    )


async def test_seed_request_shapes(
    client: httpx.AsyncClient, cfg: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    r = await client.post(
        f"{API}/backup",
        json={"backup_name": "Daily_Backup_2025-09-30", "backup_data": SEED_DATA},
        headers=cfg,
    )
    assert r.status_code == 201, r.text
    kept = r.json()
    assert kept["backup_name"] == "Daily_Backup_2025-09-30" and kept["kind"] == "manual"
    assert len(kept["sha256"]) == 64 and kept["size"] > 0
    r = await client.post(f"{API}/restore", json={"restore_data": SEED_DATA}, headers=cfg)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["applied"] is True and out["pre_restore_backup_id"] is not None
    assert out["changes"]["configurations"]["created"] == 1
    assert out["changes"]["translations"]["items"] == [{"id": "pl:demo.hello", "action": "created"}]
    async with sessionmaker() as session:
        row = await session.scalar(
            select(Configuration).where(Configuration.config_key == "api_timeout")
        )
        assert row is not None and row.config_value == {"timeout": 30, "retry": 3}
        assert (
            await session.scalar(
                select(func.count())
                .select_from(SystemLog)
                .where(SystemLog.action == "config.restore")
            )
            == 1
        )
    r = await client.get(f"{API}/backups", headers=cfg)
    assert [b["kind"] for b in r.json()] == ["pre_restore", "manual"]
    assert r.headers["X-Total-Count"] == "2"


async def test_snapshot_download_dry_run_and_restore(
    client: httpx.AsyncClient, cfg: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _setup(client, cfg)
    acme = await add_customer(sessionmaker, name="ACME", contact_info=None)
    await add_device(sessionmaker, "MT-1", configuration={"rate": 10}, customer_id=acme)
    r = await client.post(f"{API}/backup", json={"backup_name": "before"}, headers=cfg)
    assert r.status_code == 201 and r.json()["kind"] == "snapshot"
    backup_id = r.json()["id"]
    download = (await client.get(f"{API}/backups/{backup_id}", headers=cfg)).json()
    assert download["sha256"] == r.json()["sha256"]
    assert download["backup_data"]["tables"]["devices"] == [
        {"device_number": "MT-1", "configuration": {"rate": 10}}
    ]

    # Change things after the backup.
    await client.put(
        f"{API}/system-configs/by-key/units", json={"config_value": {"pressure": "Pa"}}, headers=cfg
    )
    await client.put(
        f"{API}/translations",
        json={"key": "demo.hello", "language": "en", "value": "Hi"},
        headers=cfg,
    )
    await client.put(f"{API}/device-configs/1", json={"configuration": {"rate": 1}}, headers=cfg)

    r = await client.post(
        f"{API}/restore", json={"restore_data": download, "dry_run": True}, headers=cfg
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["applied"] is False and out["pre_restore_backup_id"] is None
    assert out["changes"]["configurations"]["items"] == [
        {"id": "units", "action": "updated", "fields": ["config_value"]}
    ]
    assert out["changes"]["translations"]["updated"] == 1
    assert out["changes"]["devices"]["updated"] == 1
    assert out["changes"]["json_templates"] == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "items": [],
    }
    async with sessionmaker() as session:
        units = await session.scalar(
            select(Configuration.config_value).where(Configuration.config_key == "units")
        )
    assert units == {"pressure": "Pa"}

    r = await client.post(f"{API}/restore", json={"backup_id": backup_id}, headers=cfg)
    assert r.status_code == 200 and r.json()["applied"] is True
    async with sessionmaker() as session:
        assert await session.scalar(
            select(Configuration.config_value).where(Configuration.config_key == "units")
        ) == {"pressure": "mbar"}
        assert (
            await session.scalar(select(Translation.value).where(Translation.key == "demo.hello"))
            == "Hello"
        )
        assert (await session.get(Device, 1)).configuration == {"rate": 10}
    # The automatic backup undoes the restore.
    pre = r.json()["pre_restore_backup_id"]
    r = await client.post(f"{API}/restore", json={"backup_id": pre, "dry_run": True}, headers=cfg)
    assert r.json()["changes"]["configurations"]["updated"] == 1
    assert (await client.delete(f"{API}/backups/{backup_id}", headers=cfg)).status_code == 204
    assert (await client.get(f"{API}/backups/{backup_id}", headers=cfg)).status_code == 404


@pytest.mark.parametrize(
    "mutate,path",
    [
        (
            lambda d: d["backup_data"]["tables"]["configurations"][0].update(config_value={"x": 1}),
            "/sha256",
        ),
        (lambda d: d["backup_data"].update(format="other"), "/format"),
        (lambda d: d["backup_data"]["tables"].update(users=[]), "/tables"),
        (
            lambda d: d["backup_data"]["tables"]["configurations"].append(
                {"config_key": "units", "config_value": 1}
            ),
            "/tables/configurations/1",
        ),
    ],
)
async def test_tampered_or_foreign_backups_are_refused(
    client: httpx.AsyncClient,
    cfg: dict[str, str],
    mutate: Any,
    path: str,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await _setup(client, cfg)
    backup_id = (await client.post(f"{API}/backup", json={}, headers=cfg)).json()["id"]
    download = (await client.get(f"{API}/backups/{backup_id}", headers=cfg)).json()
    mutate(download)
    if path != "/sha256":
        download.pop("sha256")
    r = await client.post(f"{API}/restore", json={"restore_data": download}, headers=cfg)
    assert r.status_code == 422, r.text
    assert any(e["path"].startswith(path) for e in r.json()["detail"]["errors"]), r.json()
    async with sessionmaker() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(SystemLog)
                .where(SystemLog.action == "config.restore")
            )
            == 0
        )


async def test_invalid_values_and_broken_foreign_keys_are_refused(
    client: httpx.AsyncClient, cfg: dict[str, str]
) -> None:
    await _setup(client, cfg)
    bad = {
        "configurations": [{"config_key": "units", "config_value": {"pressure": "psi"}}],
        "json_templates": [
            {
                "id": 50,
                "name": "x",
                "template_type": "t",
                "schema": {"type": "wrong"},
                "default_values": {},
                "created_by": 99999,
            }
        ],
        "devices": [{"device_number": "NOPE", "configuration": {}}],
        "test_steps": [{"id": 1, "scenario_id": 777, "step_order": 1, "step_name": "s"}],
    }
    r = await client.post(f"{API}/restore", json={"restore_data": bad}, headers=cfg)
    assert r.status_code == 422
    paths = {e["path"] for e in r.json()["detail"]["errors"]}
    assert "/tables/json_templates/0/created_by" in paths
    assert "/tables/devices/0/device_number" in paths
    assert "/tables/test_steps/0/scenario_id" in paths
    assert any(p.startswith("/tables/json_templates/0/schema") for p in paths)
    r = await client.post(
        f"{API}/restore",
        json={"restore_data": {"configurations": bad["configurations"]}},
        headers=cfg,
    )
    assert r.status_code == 422
    assert (
        r.json()["detail"]["errors"][0]["path"] == "/tables/configurations/0/config_value/pressure"
    )
    r = await client.post(f"{API}/restore", json={"restore_data": {}, "backup_id": 1}, headers=cfg)
    assert r.status_code == 422
    r = await client.post(f"{API}/backup", json={"backup_data": {"nonsense": []}}, headers=cfg)
    assert r.status_code == 422


async def test_restore_failing_half_way_changes_nothing(
    client: httpx.AsyncClient,
    cfg: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _setup(client, cfg)
    data = {
        "json_templates": [
            {
                "id": 40,
                "name": "New",
                "template_type": "scenario",
                "schema": {"type": "object"},
                "default_values": {},
            }
        ],
        "configurations": [{"config_key": "units", "config_value": {"pressure": "hPa"}}],
        "translations": [{"key": "demo.hello", "language": "en", "value": "Changed"}],
    }
    real = backups._apply

    def failing(session: AsyncSession, op: Any, user_id: int) -> None:
        if op.table == "translations":
            raise RuntimeError("disk on fire")
        real(session, op, user_id)

    monkeypatch.setattr(backups, "_apply", failing)
    with pytest.raises(RuntimeError):
        await client.post(f"{API}/restore", json={"restore_data": data}, headers=cfg)
    async with sessionmaker() as session:
        assert await session.get(JsonTemplate, 40) is None
        assert await session.scalar(
            select(Configuration.config_value).where(Configuration.config_key == "units")
        ) == {"pressure": "mbar"}
        assert await session.scalar(select(Translation.value)) == "Hello"
        assert (
            await session.scalar(
                select(func.count())
                .select_from(SystemLog)
                .where(SystemLog.action == "config.restore")
            )
            == 0
        )
    monkeypatch.setattr(backups, "_apply", real)
    r = await client.post(f"{API}/restore", json={"restore_data": data}, headers=cfg)
    assert r.status_code == 200
    # Ids given by the backup are kept, and new rows get fresh ids after them.
    r = await client.post(
        f"{API}/json-templates",
        json={"name": "after", "template_type": "x", "schema": {}, "default_values": 1},
        headers=cfg,
    )
    assert r.status_code == 201 and r.json()["id"] > 40


async def test_access(client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]) -> None:
    assert (await client.post(f"{API}/backup", json={})).status_code == 401
    for role in ("operator", "manager", "admin", "superuser"):
        h = role_headers[role]
        assert (await client.post(f"{API}/backup", json={}, headers=h)).status_code == 403
        assert (await client.get(f"{API}/backups", headers=h)).status_code == 403
        r = await client.post(f"{API}/restore", json={"restore_data": {}}, headers=h)
        assert r.status_code == 403
