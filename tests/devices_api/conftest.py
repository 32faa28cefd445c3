"""Helpers for the device-API tests: devices, tokens, software versions with artifacts."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.devices_api.fanout import FanoutBus
from fleet.models import Device, Software, SoftwareInstallation, SoftwareVersion
from fleet.settings import Settings
from fleet.software.installations import create_installation

TENANT = "DEFAULT"


@pytest.fixture(autouse=True)
async def _close_bus(app: Any) -> AsyncIterator[None]:
    yield
    bus = app.state.events
    if isinstance(bus, FanoutBus):
        await bus.close()


async def make_device(
    factory: async_sessionmaker[AsyncSession], number: str, device_type: str = "mask_tester"
) -> Device:
    async with factory() as session, session.begin():
        device = Device(device_number=number, device_type=device_type, status="active")
        session.add(device)
    return device


async def issue_token(
    client: httpx.AsyncClient, headers: dict[str, str], device_id: int, **body: Any
) -> str:
    r = await client.post(
        f"/api/v1/fleet-data/devices/{device_id}/token", headers=headers, json=body or None
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def target(token: str) -> dict[str, str]:
    return {"Authorization": f"TargetToken {token}"}


def ddi(number: str, rest: str = "") -> str:
    return f"/{TENANT}/controller/v1/{number}{rest}"


async def make_version(
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    name: str = "tester-firmware",
    version: str = "1.0.0",
    content: bytes = b"firmware-image-" * 1000,
    software_id: int | None = None,
) -> SoftwareVersion:
    folder = settings.data_dir / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}.bin"
    path.write_bytes(content)
    async with factory() as session, session.begin():
        if software_id is None:
            software = Software(name=name, category="firmware", is_active=True)
            session.add(software)
            await session.flush()
            software_id = software.id
        row = SoftwareVersion(
            software_id=software_id,
            version_number=version,
            file_path=str(path),
            file_size=len(content),
            checksum=hashlib.sha256(content).hexdigest(),
            is_stable=True,
        )
        session.add(row)
    return row


async def make_installation(
    factory: async_sessionmaker[AsyncSession],
    device_id: int,
    version_id: int,
    action: str = "install",
) -> SoftwareInstallation:
    async with factory() as session, session.begin():
        return await create_installation(
            session,
            device_id=device_id,
            version_id=version_id,
            action=action,
            initiated_by=None,
            ip=None,
        )


def artifact_path(version: SoftwareVersion) -> Path:
    assert version.file_path
    return Path(version.file_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def live(app: Any) -> AsyncIterator[str]:
    """Serve the test app on a real port in this event loop (WebSockets need a server)."""
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn offers a flag, not an event, for "started"
        if server.started:
            break
        await asyncio.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task
