"""Every writer of a running test's trace is safe against every other (issue: no acknowledged
write is ever lost).

Device telemetry with ``test_id``, step submissions with samples, ``POST /tests/{id}/samples``
and the simulated bench all append to ``test_reports.pressure_data``. Each test below runs
writers for the same running test from concurrent clients many times and checks that every
sample whose request was acknowledged is in the trace — once.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.db import lock_row
from fleet.models import TestReport
from fleet.runs.live import runner_for
from fleet.runs.samples import append_samples
from fleet.scenarios.flow import SIGNALS
from tests.factories import add_device, create_scenario, issue_token, target

T = "/api/v1/tests"
TELEMETRY = "/api/v1/device-api/telemetry"
AUTO_STEPS = 6
ROUNDS = 4  # tests run one after the other; AUTO_STEPS races each


pytestmark = pytest.mark.usefixtures("close_event_bus")


def _auto_flow(steps: int) -> dict[str, Any]:
    """A flow of automatic steps the operator passes by hand: samples never fail it."""
    return {
        "kind_of_test": "yearly",
        "steps": [
            {
                "step_order": order,
                "step_name": f"Measure {order}",
                "action": "measure",
                "auto_test": True,
                "operator_participation": True,
                "parameters": {},
                "criteria": {"type": "boolean"},
            }
            for order in range(1, steps + 1)
        ],
    }


class Ledger:
    """Samples with a unique mark in ``flow``, to find each one in the trace."""

    def __init__(self) -> None:
        self.marks = itertools.count(1)

    def samples(self, n: int, times: list[Any]) -> tuple[list[dict[str, Any]], list[float]]:
        marks = [float(next(self.marks)) for _ in range(n)]
        return [
            {"t": t, "pressure_low": -14.0, "pressure_high": 6.0, "flow": m}
            for t, m in zip(times, marks, strict=True)
        ], marks


async def _trace_marks(
    factory: async_sessionmaker[AsyncSession], test_id: int
) -> tuple[list[float], int]:
    async with factory() as session:
        report = await session.get(TestReport, test_id)
        assert report is not None
        steps = (report.pressure_data or {}).get("steps") or {}
        marks: list[float] = []
        total = 0
        for block in steps.values():
            n = len(block["t"])
            assert all(len(block[s]) == n for s in SIGNALS), "a step's columns differ in length"
            total += n
            marks.extend(m for m in block["flow"] if m is not None)
        return marks, total


async def _device_with_token(
    client: httpx.AsyncClient, factory: async_sessionmaker[AsyncSession], maker: dict[str, str]
) -> tuple[int, dict[str, str]]:
    device = await add_device(factory, "TRACE-1", kind="full_face_mask", serial=True)
    return device, target(await issue_token(client, maker, device))


async def test_steps_and_telemetry_interleaved_lose_nothing(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    op = role_headers["operator"]
    scenario = await create_scenario(
        client, role_headers["superuser"], "Race", test_flow=_auto_flow(AUTO_STEPS)
    )
    device, device_headers = await _device_with_token(client, sessionmaker, role_headers["maker"])
    ledger = Ledger()
    appended_batches = 0
    for round_ in range(ROUNDS):
        r = await client.post(
            f"{T}/start", headers=op, json={"scenario_id": scenario["id"], "device_id": device}
        )
        assert r.status_code == 201, r.text
        test_id = r.json()["id"]
        async with sessionmaker() as session:
            report = await session.get(TestReport, test_id)
            assert report is not None
            started: datetime = report.start_time
        acknowledged: list[float] = []
        for order in range(1, AUTO_STEPS + 1):
            # Telemetry of this step lies before the step's own samples, so whichever write
            # lands first, the other one's times still go forward within the step; and every
            # batch lies after the device's previous one.
            at = round_ * 100 + order * 10
            base = started + timedelta(seconds=at)
            tele_times = [
                int((base + timedelta(milliseconds=i)).timestamp() * 1000) for i in range(20)
            ]
            tele, tele_marks = ledger.samples(20, tele_times)
            own, own_marks = ledger.samples(20, [at + 5 + i / 100 for i in range(20)])
            tele_answer, step_answer = await asyncio.gather(
                client.post(
                    TELEMETRY, headers=device_headers, json={"samples": tele, "test_id": test_id}
                ),
                client.post(
                    f"{T}/{test_id}/steps/{order}",
                    headers=op,
                    json={"result": "passed", "samples": own},
                ),
            )
            assert tele_answer.status_code == 200, tele_answer.text
            assert step_answer.status_code == 200, step_answer.text
            acknowledged.extend(own_marks)
            if tele_answer.json()["appended_to_test"]:
                appended_batches += 1
                acknowledged.extend(tele_marks)
        r = await client.post(f"{T}/{test_id}/complete", headers=op)
        assert r.status_code == 200, r.text
        marks, total = await _trace_marks(sessionmaker, test_id)
        missing = set(acknowledged) - set(marks)
        assert not missing, f"{len(missing)} acknowledged samples are not in test {test_id}"
        assert len(marks) == len(set(marks)) == total == len(acknowledged)
    # Telemetry after the last step finds no step left to feed; most batches were appended.
    assert appended_batches >= ROUNDS * AUTO_STEPS // 2


async def _start(
    client: httpx.AsyncClient, op: dict[str, str], scenario_id: int, device: int
) -> tuple[int, datetime]:
    r = await client.post(
        f"{T}/start", headers=op, json={"scenario_id": scenario_id, "device_id": device}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"], datetime.fromisoformat(r.json()["start_time"])


async def _while_another_writer_holds(
    factory: async_sessionmaker[AsyncSession],
    test_id: int,
    marker: dict[str, Any],
    write: Any,
) -> Any:
    """Run ``write`` while another transaction holds the report and appends ``marker`` to the
    current step; answers what ``write`` answered. A writer that read the report before the
    other one committed, and rewrote the trace from that snapshot, would drop the marker."""
    async with factory() as session, session.begin():
        report = await lock_row(session, TestReport, test_id)
        assert report is not None
        task = asyncio.ensure_future(write())
        await asyncio.sleep(0.4)
        assert not task.done(), "the writer did not wait for the report's lock"
        await append_samples(session, report, [marker], source="operator")
    return await task


def _all_flows(block: dict[str, Any]) -> list[float]:
    return [m for m in block["flow"] if m is not None]


async def _block(factory: async_sessionmaker[AsyncSession], test_id: int, order: int) -> Any:
    async with factory() as session:
        report = await session.get(TestReport, test_id)
        assert report is not None
        return (report.pressure_data or {})["steps"][str(order)]


@pytest.fixture
async def running(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """A running test of automatic steps, and the tested device's telemetry headers."""
    scenario = await create_scenario(
        client, role_headers["superuser"], "Writers", test_flow=_auto_flow(2)
    )
    device, device_headers = await _device_with_token(client, sessionmaker, role_headers["maker"])
    test_id, started = await _start(client, role_headers["operator"], scenario["id"], device)
    return {
        "id": test_id,
        "started": started,
        "device": device,
        "device_headers": device_headers,
        "op": role_headers["operator"],
    }


MARKER = {"t": 0.0, "pressure_low": -1.0, "flow": -1.0}


async def test_telemetry_waits_for_another_writer(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], running: Any
) -> None:
    at = int((running["started"] + timedelta(seconds=1)).timestamp() * 1000)
    batch = [{"t": at + i, "pressure_low": -14.0, "flow": float(i + 1)} for i in range(5)]

    async def write() -> httpx.Response:
        return await client.post(
            TELEMETRY,
            headers=running["device_headers"],
            json={"samples": batch, "test_id": running["id"]},
        )

    r = await _while_another_writer_holds(sessionmaker, running["id"], MARKER, write)
    assert r.status_code == 200 and r.json()["appended_to_test"] is True, r.text
    assert _all_flows(await _block(sessionmaker, running["id"], 1)) == [-1.0, 1, 2, 3, 4, 5]


async def test_posted_samples_wait_for_another_writer(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], running: Any
) -> None:
    batch = [{"t": 1.0 + i, "pressure_low": -14.0, "flow": float(i + 1)} for i in range(3)]

    async def write() -> httpx.Response:
        return await client.post(
            f"{T}/{running['id']}/samples", headers=running["op"], json={"samples": batch}
        )

    r = await _while_another_writer_holds(sessionmaker, running["id"], MARKER, write)
    assert r.status_code == 200 and r.json()["total"] == 4, r.text
    assert _all_flows(await _block(sessionmaker, running["id"], 1)) == [-1.0, 1, 2, 3]


async def test_step_samples_wait_for_another_writer(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], running: Any
) -> None:
    batch = [{"t": 1.0 + i, "pressure_low": -14.0, "flow": float(i + 1)} for i in range(3)]

    async def write() -> httpx.Response:
        return await client.post(
            f"{T}/{running['id']}/steps/1",
            headers=running["op"],
            json={"result": "passed", "samples": batch},
        )

    r = await _while_another_writer_holds(sessionmaker, running["id"], MARKER, write)
    assert r.status_code == 200, r.text
    assert _all_flows(await _block(sessionmaker, running["id"], 1)) == [-1.0, 1, 2, 3]


async def test_live_bench_waits_for_another_writer(
    app: Any,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    running: Any,
) -> None:
    tid = running["id"]
    r = await client.post(f"{T}/{tid}/steps/1/bench", headers=running["op"], json={"speed": 50})
    assert r.status_code == 200, r.text
    run = runner_for(app).get(tid)
    assert run is not None and run.task is not None and run.sent == 0
    # The bench writes its first chunk a tick later, while another writer holds the report.
    async with sessionmaker() as session, session.begin():
        report = await lock_row(session, TestReport, tid)
        assert report is not None
        await asyncio.sleep(0.5)
        assert run.sent == 0, "the bench did not wait for the report's lock"
        await append_samples(session, report, [MARKER], source="operator")
    await run.task
    assert run.error is None and run.sent == run.total
    block = await _block(sessionmaker, tid, 1)
    assert block["pressure_low"][0] == -1.0 and len(block["t"]) == run.total + 1
