"""Presence: last_seen and address per poll, online/offline announcements, the sweeper."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.db import utcnow
from fleet.devices_api import presence
from fleet.models import DevicePresence, SystemLog
from tests.factories import add_ddi_device, ddi


async def test_poll_records_presence_and_announces_changes(
    app: Any,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-P")
    url = f"/api/v1/fleet-data/devices/{device_id}/presence"
    r = await client.get(url, headers=role_headers["operator"])
    assert r.json()["status"] == "offline" and r.json()["last_seen"] is None
    bus = app.state.events
    sub = bus.subscribe({"fleet"})
    await bus.ready()

    assert (await client.get(ddi("MT-P"), headers=headers)).status_code == 200
    assert (await client.get(ddi("MT-P"), headers=headers)).status_code == 200
    event = await asyncio.wait_for(sub.queue.get(), 5)
    assert event["event"] == "device.status_changed"
    assert event["data"]["status"] == "online" and event["data"]["address"] == "10.1.2.3"
    r = await client.get(url, headers=role_headers["manager"])
    assert r.json()["status"] == "online" and r.json()["address"] == "10.1.2.3"

    cfg = app.state.device_api
    assert await presence.sweep(app.state.sessionmaker, bus, cfg) == []
    later = utcnow() + timedelta(seconds=cfg.offline_after_seconds + 1)
    assert await presence.sweep(app.state.sessionmaker, bus, cfg, now=later) == [device_id]
    assert await presence.sweep(app.state.sessionmaker, bus, cfg, now=later) == []
    event = await asyncio.wait_for(sub.queue.get(), 5)
    assert event["data"]["status"] == "offline"
    async with sessionmaker() as session:
        row = await session.get(DevicePresence, device_id)
        logs = list(
            await session.scalars(
                select(SystemLog.details).where(SystemLog.action == "device.status_changed")
            )
        )
    assert row is not None and row.online is False
    assert [d["status"] for d in logs] == ["online", "offline"]
    assert sub.queue.empty()  # the second poll announced nothing
    # back online
    await client.get(ddi("MT-P"), headers=headers)
    event = await asyncio.wait_for(sub.queue.get(), 5)
    assert event["data"]["status"] == "online"
    bus.unsubscribe(sub)
    assert (await client.get(url)).status_code == 401
    r = await client.get(
        "/api/v1/fleet-data/devices/99999/presence", headers=role_headers["manager"]
    )
    assert r.status_code == 404
