"""Telemetry: validated sample batches, bulk-inserted, published as ``sensor.reading`` events."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.devices_api.credentials import DeviceIdentity
from fleet.devices_api.schemas import Sample, TelemetryAccepted, TelemetryBatch
from fleet.errors import Conflict, NotFound, ValidationFailed
from fleet.events import EventBus
from fleet.models import TelemetrySample, TestReport

READING_EVENT = "sensor.reading"
RUNNING_TEST_STATUSES = frozenset({"running", "in_progress"})
_COLUMNS = ("device_id", "t", "pressure_low", "pressure_high", "flow", "test_id")

AppendSamples = Callable[..., Awaitable[Any]]


def _test_engine_hook() -> AppendSamples | None:
    """The test-execution engine's ``append_samples`` (``fleet.runs.samples``), when present."""
    try:
        module = importlib.import_module("fleet.runs.samples")
    except ImportError:
        return None
    hook = getattr(module, "append_samples", None)
    return hook if callable(hook) else None


def sample_dict(sample: Sample) -> dict[str, Any]:
    """Answer a sample as JSON-ready data (ISO time)."""
    return {
        "t": sample.t.isoformat(),
        "pressure_low": sample.pressure_low,
        "pressure_high": sample.pressure_high,
        "flow": sample.flow,
    }


async def _running_test(session: AsyncSession, device_id: int, test_id: int) -> TestReport:
    report = await session.get(TestReport, test_id)
    if report is None or report.device_id != device_id:
        raise NotFound(f"Test {test_id} not found for this device")
    if (report.status or "").lower() not in RUNNING_TEST_STATUSES:
        raise Conflict(f"Test {test_id} is {report.status}, not running")
    return report


async def _bulk_insert(session: AsyncSession, rows: list[tuple[Any, ...]]) -> None:
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        cols = ", ".join(_COLUMNS)
        async with driver.cursor() as cur:
            async with cur.copy(f"COPY telemetry_samples ({cols}) FROM STDIN") as copy:
                for row in rows:
                    await copy.write_row(row)
        return
    await session.execute(
        insert(TelemetrySample), [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
    )


async def ingest(
    session: AsyncSession, bus: EventBus, identity: DeviceIdentity, batch: TelemetryBatch
) -> TelemetryAccepted:
    """Store a batch in one bulk insert, feed a running test, publish ``sensor.reading``."""
    device_id = identity.device_id
    report = None
    if batch.test_id is not None:
        report = await _running_test(session, device_id, batch.test_id)
    last = await session.scalar(
        select(func.max(TelemetrySample.t)).where(TelemetrySample.device_id == device_id)
    )
    if last is not None and batch.samples[0].t <= last:
        raise ValidationFailed(
            {
                "message": "Telemetry out of order",
                "errors": [
                    {
                        "path": "samples[0].t",
                        "message": f"must be after the last stored sample ({last.isoformat()})",
                    }
                ],
            }
        )
    rows = [
        (device_id, s.t, s.pressure_low, s.pressure_high, s.flow, batch.test_id)
        for s in batch.samples
    ]
    await _bulk_insert(session, rows)
    samples = [sample_dict(s) for s in batch.samples]
    appended = False
    if report is not None:
        hook = _test_engine_hook()
        if hook is not None:
            # The test takes samples only during its automatic steps; at other times the
            # samples are still stored and published, just not added to the test's trace.
            try:
                await hook(session, report, samples, device_id=device_id)
                appended = True
            except (Conflict, ValidationFailed):
                appended = False
    await session.flush()
    topics = [f"device:{device_id}"]
    if batch.test_id is not None:
        topics.append(f"test:{batch.test_id}")
    data = {
        "device_id": device_id,
        "device_number": identity.device.device_number,
        "test_id": batch.test_id,
        "samples": samples,
    }
    publish_many = getattr(bus, "publish_many", None)
    if publish_many is not None:
        await publish_many(topics, READING_EVENT, data)
    else:
        for topic in topics:
            await bus.publish(topic, READING_EVENT, data)
    return TelemetryAccepted(
        accepted=len(rows), device_id=device_id, test_id=batch.test_id, appended_to_test=appended
    )
