"""Samples of a running test, stored column-wise per step in ``test_reports.pressure_data``.

``pressure_data`` = ``{"units": {...}, "steps": {"<order>": {"source", "received_at",
"t": [...], "pressure_low": [...], "pressure_high": [...], "flow": [...]}}}``; ``t`` is in
seconds (device time as sent, or seconds since the test started when a sample carries a time:
ISO 8601 or epoch milliseconds, as in the telemetry feed). Values absent from a sample are
stored as null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fleet.db import utcnow
from fleet.errors import Conflict, ValidationFailed
from fleet.models import TestReport
from fleet.runs.criteria import StepSamples
from fleet.scenarios.flow import SIGNAL_UNITS, SIGNALS

MAX_SAMPLES_PER_STEP = 200_000
MAX_SAMPLES_PER_CALL = 50_000
_ABS_LIMIT = 1e6  # no pressure or flow sensor reads beyond this; larger values are garbage


def empty_pressure_data() -> dict[str, Any]:
    """Answer the ``pressure_data`` of a test that has no samples yet."""
    return {"units": dict(SIGNAL_UNITS), "steps": {}}


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationFailed(f"{where}: must be a number")
    if not math.isfinite(value) or abs(value) > _ABS_LIMIT:
        raise ValidationFailed(f"{where}: must be a finite number within ±{_ABS_LIMIT:g}")
    return float(value)


# One sample shape with the device telemetry feed: ``t`` is an ISO time (UTC when it names no
# zone) or epoch milliseconds. A number from 2000-01-01 in epoch milliseconds on is such a time;
# a smaller one keeps its older meaning here, seconds of device time (the telemetry feed refuses
# it as an implausible time, so no number means two things).
EPOCH_MS_FROM = 946_684_800_000


def _since_start(moment: datetime, started: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round((moment - started).total_seconds(), 6)


def _time(value: Any, started: datetime, where: str) -> float:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationFailed(
                f"{where}: not an ISO time, epoch milliseconds or seconds"
            ) from exc
        return _since_start(moment, started)
    if isinstance(value, datetime):
        return _since_start(value, started)
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= EPOCH_MS_FROM
    ):
        if value > 10 * EPOCH_MS_FROM:  # beyond the year 2270: no clock of a tester
            raise ValidationFailed(f"{where}: epoch milliseconds out of range")
        return _since_start(datetime.fromtimestamp(value / 1000, UTC), started)
    return _number(value, where)


def clean_samples(
    samples: Sequence[Mapping[str, Any]], started: datetime, last_t: float | None = None
) -> list[tuple[float, list[float | None]]]:
    """Check samples in the telemetry shape and answer ``(t, [values per signal])`` rows.

    Every sample needs ``t`` and at least one signal; values must be finite; times must not
    go backwards. Anything wrong raises 422 naming the sample, so nothing is written.
    """
    if not isinstance(samples, Sequence) or isinstance(samples, str | bytes):
        raise ValidationFailed("samples: must be a list")
    if len(samples) > MAX_SAMPLES_PER_CALL:
        raise ValidationFailed(f"samples: at most {MAX_SAMPLES_PER_CALL} per call")
    rows: list[tuple[float, list[float | None]]] = []
    previous = last_t
    for index, sample in enumerate(samples):
        where = f"samples[{index}]"
        if not isinstance(sample, Mapping):
            raise ValidationFailed(f"{where}: must be an object")
        unknown = set(sample) - {"t", *SIGNALS}
        if unknown:
            raise ValidationFailed(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        if "t" not in sample:
            raise ValidationFailed(f"{where}.t: required")
        t = _time(sample["t"], started, f"{where}.t")
        if previous is not None and t < previous:
            raise ValidationFailed(f"{where}.t: time goes backwards ({t} < {previous})")
        previous = t
        values = [
            None if sample.get(s) is None else _number(sample[s], f"{where}.{s}") for s in SIGNALS
        ]
        if all(v is None for v in values):
            raise ValidationFailed(f"{where}: needs at least one of {', '.join(SIGNALS)}")
        rows.append((t, values))
    return rows


def step_block(report: TestReport, step_order: int) -> dict[str, Any] | None:
    """Answer the stored samples of one step, if any."""
    data = report.pressure_data if isinstance(report.pressure_data, dict) else {}
    block = (data.get("steps") or {}).get(str(step_order))
    return block if isinstance(block, dict) else None


def step_samples(report: TestReport, step_order: int) -> StepSamples:
    """Answer one step's samples in the shape the criteria engine reads."""
    block = step_block(report, step_order)
    if not block:
        return StepSamples()
    return StepSamples(
        t=list(block.get("t") or []), signals={s: list(block.get(s) or []) for s in SIGNALS}
    )


def sample_count(report: TestReport, step_order: int) -> int:
    """Count one step's samples."""
    block = step_block(report, step_order)
    return len(block.get("t") or []) if block else 0


def current_step(report: TestReport) -> dict[str, Any] | None:
    """Answer the state of the step the test waits for, or None when every step is recorded."""
    results = report.results or {}
    order = results.get("current_step")
    for step in results.get("steps") or []:
        if step.get("step_order") == order:
            return dict(step)
    return None


async def append_samples(
    session: AsyncSession,
    report: TestReport,
    samples: Sequence[Mapping[str, Any]],
    *,
    step_order: int | None = None,
    device_id: int | None = None,
    source: str = "telemetry",
) -> dict[str, Any]:
    """Append samples in the telemetry shape to the current automatic step of a running test.

    ``samples`` = ``[{"t": seconds | ISO time, "pressure_low": mbar, "pressure_high": bar,
    "flow": l/min}, ...]``. ``step_order`` defaults to the step the test waits for and must be
    that step; ``device_id``, when given (device-pushed telemetry), must be the tested device.
    Raises 409 when the test is not running, the step is not current or not automatic, or the
    device differs; 422 for malformed samples. Answers ``{"step_order", "appended", "total"}``
    plus the cleaned rows under ``"samples"`` for a ``sensor.reading`` event.
    """
    if report.status != "in_progress":
        raise Conflict(f"Test {report.id} is {report.status}; it takes no more samples")
    if device_id is not None and device_id != report.device_id:
        raise Conflict(f"Test {report.id} runs on another device")
    state = current_step(report)
    if state is None:
        raise Conflict("Every step is recorded; complete the test")
    order = state["step_order"] if step_order is None else step_order
    if order != state["step_order"]:
        raise Conflict(f"Step {state['step_order']} is running, not step {order}")
    if not state.get("auto_test"):
        raise Conflict(f"Step {order} is an operator step; it takes no samples")
    existing = step_block(report, order) or {}
    old_t = list(existing.get("t") or [])
    rows = clean_samples(samples, report.start_time, old_t[-1] if old_t else None)
    if len(old_t) + len(rows) > MAX_SAMPLES_PER_STEP:
        raise ValidationFailed(f"samples: a step holds at most {MAX_SAMPLES_PER_STEP}")
    block = {
        "source": existing.get("source", source),
        "received_at": existing.get("received_at") or utcnow().isoformat(),
        "t": old_t + [t for t, _ in rows],
    }
    for i, signal in enumerate(SIGNALS):
        block[signal] = list(existing.get(signal) or [None] * len(old_t)) + [v[i] for _, v in rows]
    data = dict(report.pressure_data) if isinstance(report.pressure_data, dict) else {}
    data.setdefault("units", dict(SIGNAL_UNITS))
    data["steps"] = {**(data.get("steps") or {}), str(order): block}
    report.pressure_data = data  # a new object, so the JSON column is written
    await session.flush()
    return {
        "step_order": order,
        "appended": len(rows),
        "total": len(block["t"]),
        "samples": [{"t": t, **dict(zip(SIGNALS, v, strict=True))} for t, v in rows],
    }
