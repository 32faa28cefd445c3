"""Device credentials: issuing, hashing, revocation, rotation and where a token reaches."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import DeviceToken, SystemLog
from tests.factories import add_device, ddi, issue_token, target


async def test_issue_requires_manager_or_maker(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    device_id = await add_device(sessionmaker, "MT-1")
    url = f"/api/v1/fleet-data/devices/{device_id}/token"
    assert (await client.post(url)).status_code == 401
    for role in ("operator", "admin", "superuser", "configurator"):
        r = await client.post(url, headers=role_headers[role])
        assert r.status_code == 403, role
    for role in ("manager", "maker"):
        r = await client.post(url, headers=role_headers[role])
        assert r.status_code == 201, r.text
        assert r.json()["controller_id"] == "MT-1"
    r = await client.post("/api/v1/fleet-data/devices/9999/token", headers=role_headers["maker"])
    assert r.status_code == 404
    r = await client.post(url, headers=role_headers["maker"], json={"grace_minutes": -1})
    assert r.status_code == 422


async def test_token_stored_as_digest_and_audited(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    device_id = await add_device(sessionmaker, "MT-2")
    token = await issue_token(client, role_headers["manager"], device_id)
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(DeviceToken)))
        logs = list(
            await session.scalars(
                select(SystemLog).where(SystemLog.action == "device.token_issued")
            )
        )
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(rows[0].__dict__)
    assert len(logs) == 1 and token not in str(logs[0].details)
    r = await client.get(
        f"/api/v1/fleet-data/devices/{device_id}/tokens", headers=role_headers["manager"]
    )
    assert r.status_code == 200
    listed = r.json()
    assert listed[0]["prefix"] == token[:12] and listed[0]["active"] is True
    assert "token" not in listed[0] and "token_hash" not in listed[0]


async def test_device_auth_and_identity(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    a_id = await add_device(sessionmaker, "MT-A")
    b_id = await add_device(sessionmaker, "MT-B")
    token_a = await issue_token(client, role_headers["maker"], a_id)
    await issue_token(client, role_headers["maker"], b_id)
    assert (await client.get(ddi("MT-A"), headers=target(token_a))).status_code == 200
    assert (await client.get(ddi("MT-A"))).status_code == 401
    bad: list[dict[str, Any]] = [
        {"Authorization": "TargetToken nope"},
        {"Authorization": f"Bearer {token_a}"},
        {"Authorization": "TargetToken"},
        {"Authorization": f"GatewayToken {token_a}"},
    ]
    for headers in bad:
        r = await client.get(ddi("MT-A"), headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "TargetToken"
    assert (await client.get(ddi("MT-B"), headers=target(token_a))).status_code == 403
    assert (await client.get(ddi("NOPE"), headers=target(token_a))).status_code == 404
    r = await client.get("/OTHER/controller/v1/MT-A", headers=target(token_a))
    assert r.status_code == 404
    # A device token reaches nothing of the user API.
    for headers in (target(token_a), {"Authorization": f"Bearer {token_a}"}):
        assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
        r = await client.get(f"/api/v1/fleet-data/devices/{a_id}/attributes", headers=headers)
        assert r.status_code == 401


async def test_revoke_and_rotate(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    device_id = await add_device(sessionmaker, "MT-R")
    maker = role_headers["maker"]
    first = await issue_token(client, maker, device_id)
    second = await issue_token(client, maker, device_id)  # default grace: first still valid
    for token in (first, second):
        assert (await client.get(ddi("MT-R"), headers=target(token))).status_code == 200
    third = await issue_token(client, maker, device_id, grace_minutes=0)
    for token in (first, second):
        assert (await client.get(ddi("MT-R"), headers=target(token))).status_code == 401
    assert (await client.get(ddi("MT-R"), headers=target(third))).status_code == 200

    tokens = (
        await client.get(f"/api/v1/fleet-data/devices/{device_id}/tokens", headers=maker)
    ).json()
    newest = tokens[0]["id"]
    url = f"/api/v1/fleet-data/devices/{device_id}/tokens"
    assert (await client.delete(url, headers=role_headers["operator"])).status_code == 403
    assert (await client.delete(f"{url}/99999", headers=maker)).status_code == 404
    r = await client.delete(f"{url}/{newest}", headers=maker)
    assert r.status_code == 200 and r.json() == {"revoked": 1}
    assert (await client.get(ddi("MT-R"), headers=target(third))).status_code == 401
    fourth = await issue_token(client, maker, device_id)
    r = await client.delete(url, headers=role_headers["manager"])
    assert r.status_code == 200 and r.json()["revoked"] >= 1
    assert (await client.get(ddi("MT-R"), headers=target(fourth))).status_code == 401
