"""Telemetry ingestion: validation, bulk storage, ``sensor.reading`` events, test linking."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import TelemetrySample, TestReport
from tests.factories import add_ddi_device, add_device, issue_token, target

URL = "/api/v1/device-api/telemetry"


def _samples(n: int, start: datetime | None = None, step_ms: int = 10) -> list[dict[str, Any]]:
    base = start or datetime.now(UTC) - timedelta(minutes=5)
    t0 = int(base.timestamp() * 1000)
    return [
        {
            "t": t0 + i * step_ms,
            "pressure_low": -14.0 + i * 0.001,
            "pressure_high": 1.2,
            "flow": 0.5,
        }
        for i in range(n)
    ]


async def _count(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count(TelemetrySample.id))) or 0)


async def test_ingest_stores_and_publishes(
    app: Any,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-T")
    bus = app.state.events
    sub = bus.subscribe({f"device:{device_id}"})
    await bus.ready()
    iso = datetime.now(UTC) - timedelta(minutes=10)
    batch = [
        {"t": iso.isoformat(), "pressure_low": -13.9},
        {"t": (iso + timedelta(milliseconds=5)).isoformat().replace("+00:00", "Z"), "flow": 0.4},
    ]
    r = await client.post(URL, headers=headers, json={"samples": batch})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "accepted": 2,
        "device_id": device_id,
        "test_id": None,
        "appended_to_test": False,
    }
    r = await client.post(URL, headers=headers, json={"samples": _samples(1000)})
    assert r.status_code == 200 and r.json()["accepted"] == 1000
    assert await _count(sessionmaker) == 1002
    first = await asyncio.wait_for(sub.queue.get(), 5)
    assert first["event"] == "sensor.reading"
    assert first["data"]["device_id"] == device_id
    assert first["data"]["samples"][0]["pressure_low"] == -13.9
    second = await asyncio.wait_for(sub.queue.get(), 5)
    assert len(second["data"]["samples"]) == 1000  # big payloads travel through the outbox
    bus.unsubscribe(sub)

    r = await client.get(
        f"/api/v1/fleet-data/devices/{device_id}/telemetry?limit=5",
        headers=role_headers["operator"],
    )
    assert r.status_code == 200 and r.headers["x-total-count"] == "1002"
    assert r.json()[0]["pressure_low"] == -13.9


async def test_bad_batches_write_nothing(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    _device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-T")
    good = _samples(3)
    bad_bodies: list[Any] = [
        {"samples": []},
        {"samples": [{"t": good[0]["t"]}]},  # no measurement
        {"samples": [good[1], good[0]]},  # out of order
        {"samples": [good[0], good[0]]},  # duplicate time
        {"samples": _samples(5001)},  # oversized
        {"samples": [{**good[0], "pressure_low": "1"}]},
        {"samples": [{**good[0], "pressure_low": True}]},
        {"samples": [{**good[0], "pressure_low": 1e300}]},
        {"samples": [{**good[0], "t": "yesterday"}]},
        {"samples": [{**good[0], "t": 0}]},  # 1970
        {"samples": [{**good[0], "extra": 1}]},
        {"samples": good, "test_id": "x"},
        [],
    ]
    for body in bad_bodies:
        r = await client.post(URL, headers=headers, json=body)
        assert r.status_code == 422, (body if len(str(body)) < 200 else "big", r.text)
    for raw in (
        '{"samples": [{"t": 1764000000000, "pressure_low": NaN}]}',
        '{"samples": [{"t": 1764000000000, "flow": Infinity}]}',
        "not json",
    ):
        r = await client.post(
            URL, headers={**headers, "content-type": "application/json"}, content=raw
        )
        assert r.status_code == 422, raw
    r = await client.post(URL, headers={**headers, "content-length": "999999999"}, content=b"{}")
    assert r.status_code == 413
    assert (await client.post(URL, json={"samples": good})).status_code == 401
    assert (
        await client.post(URL, headers=role_headers["maker"], json={"samples": good})
    ).status_code == 401
    assert await _count(sessionmaker) == 0

    # older than what is stored: refused as out of order
    assert (await client.post(URL, headers=headers, json={"samples": good[1:]})).status_code == 200
    r = await client.post(URL, headers=headers, json={"samples": good[:1]})
    assert r.status_code == 422 and "out of order" in json.dumps(r.json())
    assert await _count(sessionmaker) == 2


async def test_test_id_links(
    app: Any,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    device_id = await add_device(sessionmaker, "MT-T")
    other_id = await add_device(sessionmaker, "MT-U")
    headers = target(await issue_token(client, role_headers["maker"], device_id))
    async with sessionmaker() as session, session.begin():
        now = datetime.now(UTC)
        running = TestReport(
            device_id=device_id,
            start_time=now - timedelta(minutes=10),
            status="in_progress",
            results={"current_step": 2, "steps": [{"step_order": 2, "auto_test": True}]},
        )
        done = TestReport(device_id=device_id, start_time=now, status="passed")
        foreign = TestReport(device_id=other_id, start_time=now, status="in_progress")
        session.add_all([running, done, foreign])
    for test_id, code in ((999999, 404), (foreign.id, 404), (done.id, 409)):
        r = await client.post(
            URL, headers=headers, json={"samples": _samples(2), "test_id": test_id}
        )
        assert r.status_code == code, (test_id, r.text)
    assert await _count(sessionmaker) == 0
    r = await client.post(
        URL, headers=headers, json={"samples": _samples(2), "test_id": running.id}
    )
    assert r.status_code == 200 and r.json()["test_id"] == running.id
    async with sessionmaker() as session:
        ids = set(await session.scalars(select(TelemetrySample.test_id)))
    assert ids == {running.id}
