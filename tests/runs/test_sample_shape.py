"""One sample shape for the telemetry feed and test steps: ``t`` as an ISO time or as epoch
milliseconds means the same moment on both."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import TestReport
from tests.runs.test_runs_api import T, setup, start, step

__all__ = ["setup"]


async def test_epoch_milliseconds_and_iso_times_on_test_steps(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    op = setup["op"]
    test = await start(client, setup)
    tid = test["id"]
    assert (await step(client, op, tid, 1, result="passed")).status_code == 200
    started = datetime.fromisoformat(test["start_time"])
    at = [started + timedelta(seconds=s) for s in (1, 2, 3)]
    ms = [int(t.timestamp() * 1000) for t in at]
    # epoch milliseconds, as the telemetry feed takes them (was 422)
    r = await client.post(
        f"{T}/{tid}/samples",
        headers=op,
        json={"step_order": 2, "samples": [{"t": ms[0], "pressure_low": -1.0}]},
    )
    assert r.status_code == 200, r.text
    # the same shape with ISO times, one without a zone meaning UTC as in telemetry
    r = await client.post(
        f"{T}/{tid}/samples",
        headers=op,
        json={
            "step_order": 2,
            "samples": [
                {"t": at[1].isoformat(), "pressure_low": -2.0},
                {"t": at[2].replace(tzinfo=None).isoformat(), "pressure_low": -3.0},
            ],
        },
    )
    assert r.status_code == 200, r.text
    async with sessionmaker() as session:
        report = await session.get(TestReport, tid)
        assert report is not None
        block = report.pressure_data["steps"]["2"]
    assert block["t"] == pytest.approx([1.0, 2.0, 3.0], abs=0.001)  # ms resolution
    # nonsense stays refused
    for bad in (10**15, "2026-13-01T00:00:00Z"):
        r = await client.post(
            f"{T}/{tid}/samples",
            headers=op,
            json={"step_order": 2, "samples": [{"t": bad, "pressure_low": -1.0}]},
        )
        assert r.status_code == 422, bad
    # and on POST /tests/{id}/steps/{order} with samples
    r = await step(client, op, tid, 2, samples=[{"t": ms[2] + 1000, "pressure_low": -4.0}])
    assert r.status_code == 200, r.text
