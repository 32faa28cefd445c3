"""System configuration: CRUD by id and key, validation against system_config templates,
audit, and the read-only /config for any signed-in user."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import SystemLog
from tests.config.conftest import API

URL = f"{API}/system-configs"


async def test_crud_by_id_and_key_with_audit(
    client: httpx.AsyncClient, cfg: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    seed = {
        "config_key": "api_timeout",
        "config_value": {"timeout": 30, "retry": 3},
        "component": "FDM",
    }
    r = await client.post(URL, json=seed, headers=cfg)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["config_value"] == {"timeout": 30, "retry": 3}
    assert created["updated_by"] is not None and created["updated_at"]
    assert (await client.post(URL, json=seed, headers=cfg)).status_code == 409

    r = await client.patch(
        f"{URL}/{created['id']}", json={"config_value": {"timeout": 60}}, headers=cfg
    )
    assert r.status_code == 200 and r.json()["config_value"] == {"timeout": 60}
    r = await client.get(f"{URL}/by-key/api_timeout", headers=cfg)
    assert r.json()["id"] == created["id"]
    r = await client.put(
        f"{URL}/by-key/units", json={"config_value": {"pressure": "mbar"}}, headers=cfg
    )
    assert r.status_code == 201
    r = await client.put(
        f"{URL}/by-key/units", json={"config_value": {"pressure": "Pa"}}, headers=cfg
    )
    assert r.status_code == 200 and r.json()["config_value"] == {"pressure": "Pa"}

    r = await client.get(URL, params={"component": "FDM"}, headers=cfg)
    assert [c["config_key"] for c in r.json()] == ["api_timeout"]
    assert r.headers["X-Total-Count"] == "1"
    r = await client.get(URL, params={"component": "none"}, headers=cfg)
    assert [c["config_key"] for c in r.json()] == ["units"]

    assert (await client.delete(f"{URL}/by-key/units", headers=cfg)).status_code == 204
    assert (await client.delete(f"{URL}/{created['id']}", headers=cfg)).status_code == 204
    assert (await client.get(f"{URL}/{created['id']}", headers=cfg)).status_code == 404

    async with sessionmaker() as session:
        logs = (
            await session.scalars(
                select(SystemLog)
                .where(SystemLog.action.like("config.system.%"))
                .order_by(SystemLog.id)
            )
        ).all()
    actions = [log.action for log in logs]
    assert actions.count("config.system.create") == 2
    update = next(log for log in logs if log.action == "config.system.update")
    assert update.details["changes"]["config_value"] == {
        "old": {"timeout": 30, "retry": 3},
        "new": {"timeout": 60},
    }
    assert logs[-1].details["old"]["config_key"] == "api_timeout"


async def test_bad_input_is_refused(client: httpx.AsyncClient, cfg: dict[str, str]) -> None:
    for body in (
        {"config_key": "x"},
        {"config_key": "x", "config_value": None},
        {"config_key": "bad key!", "config_value": 1},
        {"config_key": "x", "config_value": 1, "component": "NOPE"},
        {"config_key": "x", "config_value": 1, "extra": True},
    ):
        r = await client.post(URL, json=body, headers=cfg)
        assert r.status_code == 422, body
    assert (await client.get(URL, headers=cfg)).json() == []


async def test_values_validate_against_the_system_config_template(
    client: httpx.AsyncClient, cfg: dict[str, str]
) -> None:
    template = {
        "name": "Test intervals",
        "template_type": "system_config",
        "category": "test_intervals",
        "schema": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "default_values": {"yearly": 12},
    }
    assert (
        await client.post(f"{API}/json-templates", json=template, headers=cfg)
    ).status_code == 201
    r = await client.post(
        URL,
        json={"config_key": "test_intervals", "config_value": {"yearly": "twelve"}},
        headers=cfg,
    )
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail["errors"][0]["path"] == "/yearly"
    r = await client.post(
        URL,
        json={"config_key": "test_intervals", "config_value": {"yearly": 12, "after_use": 0}},
        headers=cfg,
    )
    assert r.status_code == 201
    r = await client.patch(
        f"{URL}/{r.json()['id']}", json={"config_value": {"yearly": -1}}, headers=cfg
    )
    assert r.status_code == 422
    r = await client.get(f"{URL}/by-key/test_intervals", headers=cfg)
    assert r.json()["config_value"] == {"yearly": 12, "after_use": 0}


async def test_access(client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]) -> None:
    assert (await client.get(URL)).status_code == 401
    for role in ("operator", "manager", "admin", "superuser"):
        assert (await client.get(URL, headers=role_headers[role])).status_code == 403, role
        r = await client.post(
            URL, json={"config_key": "k", "config_value": 1}, headers=role_headers[role]
        )
        assert r.status_code == 403
    assert (await client.get(URL, headers=role_headers["maker"])).status_code == 200


async def test_module_settings_for_any_signed_in_user(
    client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]
) -> None:
    cfg = role_headers["configurator"]
    items: list[dict[str, Any]] = [
        {"config_key": "test_intervals", "config_value": {"yearly": 12}, "component": "CPP"},
        {"config_key": "units", "config_value": {"pressure": "mbar"}},
        {"config_key": "repo_token", "config_value": {"url": "x"}, "component": "FSM"},
    ]
    for item in items:
        assert (await client.post(URL, json=item, headers=cfg)).status_code == 201
    op = role_headers["operator"]
    r = await client.get("/api/v1/config", params={"component": "CPP"}, headers=op)
    assert r.status_code == 200
    assert r.json() == {"test_intervals": {"yearly": 12}, "units": {"pressure": "mbar"}}
    assert (
        await client.get("/api/v1/config", params={"component": "FSM"}, headers=op)
    ).status_code == 403
    r = await client.get("/api/v1/config", headers=op)
    assert "repo_token" not in r.json()
    r = await client.get("/api/v1/config", headers=role_headers["maker"])
    assert set(r.json()) == {"test_intervals", "units", "repo_token"}
    assert (await client.get("/api/v1/config")).status_code == 401
