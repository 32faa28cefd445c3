"""Factories for the software tests: devices straight in the database, the rest via the API."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import Device
from tests.conftest import add_user, bearer, login

API = "/api/v1/fleet-software"


@pytest.fixture
async def maker(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> dict[str, str]:
    await add_user(sessionmaker, "maker_t", "maker")
    return bearer(await login(client, "maker_t"))


async def add_devices(
    factory: async_sessionmaker[AsyncSession],
    n: int = 1,
    *,
    device_type: str = "mask_tester",
    kind: str | None = "bench",
    prefix: str = "D",
    customer_id: int | None = None,
) -> list[int]:
    """Insert ``n`` devices; answers their ids."""
    async with factory() as session, session.begin():
        devices = [
            Device(
                device_number=f"{prefix}-{device_type}-{i}",
                device_type=device_type,
                kind_of_device=kind,
                status="active",
                customer_id=customer_id,
            )
            for i in range(n)
        ]
        session.add_all(devices)
        await session.flush()
        return [d.id for d in devices]


async def add_software(
    client: httpx.AsyncClient, headers: dict[str, str], name: str = "Tester FW", **extra: Any
) -> dict[str, Any]:
    body = {"name": name, "category": "firmware", "vendor": "Acme", "platform": "arm", **extra}
    r = await client.post(f"{API}/software", json=body, headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    version_id: int,
    content: bytes = b"firmware-image",
    sha256: str | None = None,
) -> httpx.Response:
    data = {"sha256": sha256} if sha256 is not None else {}
    return await client.post(
        f"{API}/versions/{version_id}/artifact",
        files={"file": ("image.swu", content, "application/octet-stream")},
        data=data,
        headers=headers,
    )


async def add_version(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    software_id: int,
    number: str,
    *,
    artifact: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    body = {"version_number": number, **extra}
    r = await client.post(f"{API}/software/{software_id}/versions", json=body, headers=headers)
    assert r.status_code == 201, r.text
    version: dict[str, Any] = r.json()
    if artifact:
        content = f"image {number}".encode()
        r = await upload(client, headers, version["id"], content)
        assert r.status_code == 200, r.text
        version = r.json()
        assert version["checksum"] == hashlib.sha256(content).hexdigest()
    return version


async def install(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    device_id: int,
    version_id: int,
    action: str = "install",
) -> httpx.Response:
    return await client.post(
        f"{API}/installations",
        json={"device_id": device_id, "version_id": version_id, "action": action},
        headers=headers,
    )


async def move(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    installation_id: int,
    status: str,
    **extra: Any,
) -> httpx.Response:
    return await client.patch(
        f"{API}/installations/{installation_id}",
        json={"status": status, **extra},
        headers=headers,
    )


async def finish(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    installation_id: int,
    status: str = "completed",
) -> None:
    r = await move(client, headers, installation_id, "in_progress")
    assert r.status_code == 200, r.text
    extra = {"error_message": "flash write error"} if status == "failed" else {}
    r = await move(client, headers, installation_id, status, **extra)
    assert r.status_code == 200, r.text
