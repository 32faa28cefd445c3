"""Telemetry: validated sample batches, bulk-inserted, published as ``sensor.reading`` events.

On ``device:<id>`` events carry the samples with ``t`` in epoch milliseconds (UTC), cheap to
produce and to plot; samples taken into a running test are also published on ``test:<id>`` in
the test engine's shape.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import dialect
from fleet.db import lock_row, utcnow
from fleet.devices_api.credentials import DeviceIdentity
from fleet.devices_api.schemas import BATCH_ADAPTER, EARLIEST, TelemetryAccepted
from fleet.errors import Conflict, NotFound, ValidationFailed
from fleet.events import EventBus
from fleet.models import TelemetrySample, TestReport
from fleet.ops.metrics import TELEMETRY_SAMPLES
from fleet.runs.samples import append_samples

READING_EVENT = "sensor.reading"
RUNNING_TEST_STATUSES = frozenset({"running", "in_progress"})
SIGNALS = ("pressure_low", "pressure_high", "flow")
_COLUMNS = ("device_id", "t", *SIGNALS, "test_id")
_EARLIEST_MS = int(EARLIEST.timestamp() * 1000)


@dataclass
class ParsedBatch:
    """A checked batch: times as datetimes and as epoch ms, measurements per sample."""

    times: list[datetime]
    millis: list[int]
    values: list[tuple[float | None, float | None, float | None]]
    test_id: int | None

    def __len__(self) -> int:
        return len(self.times)


def _invalid(index: int, field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", "samples", index, field), "msg": message}]
    )


def parse_batch(raw: bytes, max_batch: int) -> ParsedBatch:
    """Validate a JSON batch (shape, finite numbers, plausible strictly increasing times)."""
    try:
        batch = BATCH_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [
                {**e, "loc": ("body", *e["loc"])}
                for e in exc.errors(include_url=False, include_context=False, include_input=False)
            ]
        ) from None
    samples = batch["samples"]
    if len(samples) > max_batch:
        raise ValidationFailed(f"A batch holds at most {max_batch} samples")
    latest_ms = int((utcnow() + timedelta(days=1)).timestamp() * 1000)
    times: list[datetime] = []
    millis: list[int] = []
    values: list[tuple[float | None, float | None, float | None]] = []
    previous = -1
    for i, sample in enumerate(samples):
        t = sample["t"]
        moment: datetime | None = None
        if isinstance(t, str):
            try:
                moment = datetime.fromisoformat(t.replace("Z", "+00:00"))
            except ValueError:
                raise _invalid(i, "t", "time must be ISO 8601 or epoch milliseconds") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            ms = int(moment.timestamp() * 1000)
        else:
            ms = int(t)
        if not _EARLIEST_MS <= ms <= latest_ms:
            raise _invalid(i, "t", "time is implausible (before 2000 or more than a day ahead)")
        if ms <= previous:
            raise _invalid(i, "t", f"samples[{i}].t is not after samples[{i - 1}].t (out of order)")
        previous = ms
        low, high, flow = (
            sample.get("pressure_low"),
            sample.get("pressure_high"),
            sample.get("flow"),
        )
        if low is None and high is None and flow is None:
            raise _invalid(i, "pressure_low", "a sample needs pressure_low, pressure_high or flow")
        times.append(moment or datetime.fromtimestamp(ms / 1000, UTC))
        millis.append(ms)
        values.append((low, high, flow))
    return ParsedBatch(times, millis, values, batch.get("test_id"))


async def _running_test(session: AsyncSession, device_id: int, test_id: int) -> TestReport:
    # Locked before anything is written: the step, samples and bench paths lock the report
    # too, so no writer rewrites the trace from a snapshot another one has changed since.
    report = await lock_row(session, TestReport, test_id)
    if report is None or report.device_id != device_id:
        raise NotFound(f"Test {test_id} not found for this device")
    if (report.status or "").lower() not in RUNNING_TEST_STATUSES:
        raise Conflict(f"Test {test_id} is {report.status}, not running")
    return report


def _copy_field(value: Any) -> str:
    return "\\N" if value is None else repr(value)


async def _bulk_insert(
    session: AsyncSession, rows: list[tuple[Any, ...]], *, durable: bool
) -> None:
    conn = await session.connection()
    if dialect.is_postgres(conn):
        if not durable:
            # Plain sensor samples: a crash may lose the last instant of them, never half a
            # batch (the transaction stays atomic), and commits stop waiting on the disk.
            await session.execute(text("SET LOCAL synchronous_commit TO off"))
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        # One preformatted COPY buffer: far cheaper than a Python call per row.
        data = "".join(
            f"{r[0]}\t{r[1].isoformat()}\t{_copy_field(r[2])}\t{_copy_field(r[3])}\t"
            f"{_copy_field(r[4])}\t{_copy_field(r[5])}\n"
            for r in rows
        )
        await driver.copy_to_table(
            "telemetry_samples", source=io.BytesIO(data.encode()), columns=list(_COLUMNS)
        )
        return
    await session.execute(
        insert(TelemetrySample), [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
    )


async def ingest(
    session: AsyncSession, bus: EventBus, identity: DeviceIdentity, batch: ParsedBatch
) -> TelemetryAccepted:
    """Store a batch in one bulk insert, feed a running test, publish ``sensor.reading``."""
    device_id = identity.device_id
    report = None
    if batch.test_id is not None:
        report = await _running_test(session, device_id, batch.test_id)
    last = await session.scalar(
        select(func.max(TelemetrySample.t)).where(TelemetrySample.device_id == device_id)
    )
    if last is not None and batch.times[0] <= last:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("body", "samples", 0, "t"),
                    "msg": f"out of order: not after the last stored sample ({last.isoformat()})",
                }
            ]
        )
    test_id = batch.test_id
    rows = [
        (device_id, t, v[0], v[1], v[2], test_id)
        for t, v in zip(batch.times, batch.values, strict=True)
    ]
    await _bulk_insert(session, rows, durable=report is not None)
    appended = False
    info: dict[str, Any] | None = None
    if report is not None:
        trace = [
            {"t": t.isoformat(), **dict(zip(SIGNALS, v, strict=True))}
            for t, v in zip(batch.times, batch.values, strict=True)
        ]
        # The test takes samples only during its automatic steps; at other times the samples
        # are still stored and published, just not added to the test's trace.
        try:
            info = await append_samples(session, report, trace, device_id=device_id)
            appended = True
        except (Conflict, ValidationFailed):
            appended = False
    await session.flush()
    data = {
        "device_id": device_id,
        "device_number": identity.device.device_number,
        "test_id": test_id,
        "samples": [
            {"t": ms, "pressure_low": v[0], "pressure_high": v[1], "flow": v[2]}
            for ms, v in zip(batch.millis, batch.values, strict=True)
        ],
    }
    await bus.publish(f"device:{device_id}", READING_EVENT, data)
    if test_id is not None and info is not None:
        # The test's own topic gets the test engine's shape (t in seconds since the start),
        # the same as its bench and manual samples, so one live chart reads them all.
        await bus.publish(
            f"test:{test_id}",
            READING_EVENT,
            {
                "test_id": test_id,
                "device_id": device_id,
                "step_order": info.get("step_order"),
                "samples": info.get("samples", []),
                "total": info.get("total"),
            },
        )
    TELEMETRY_SAMPLES.inc(len(rows))
    return TelemetryAccepted(
        accepted=len(rows), device_id=device_id, test_id=test_id, appended_to_test=appended
    )
