"""Reading tests and reports writes nothing: every GET of ``/tests`` and ``/reports`` (a
finished, sealed report; one finished before sealing existed; a running test; one idle past
the timeout) sends no INSERT, UPDATE or DELETE to the database, so no seal and no audit row
appears behind a reader's back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.db import utcnow
from fleet.models import SystemLog, TestReport, TestReportActivity, TestReportSeal
from tests.factories import add_device
from tests.runs import test_runs_api
from tests.runs.test_runs_api import R, T, run_yearly, start
from tests.writes import recorded_writes

setup = test_runs_api.setup  # the fixture: a customer, a device, the yearly scenario

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


async def _counts(factory: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    async with factory() as session:
        seals = await session.scalar(select(func.count()).select_from(TestReportSeal))
        audits = await session.scalar(select(func.count()).select_from(SystemLog))
        running = await session.scalar(
            select(func.count()).select_from(TestReport).where(TestReport.status == "in_progress")
        )
    return int(seals or 0), int(audits or 0), int(running or 0)


async def test_no_get_of_tests_or_reports_writes(
    app: Any,
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    op, manager = setup["op"], setup["h"]["manager"]
    # a finished, sealed report with a step photo
    done = await start(client, setup)
    photo = await client.post(
        f"{T}/{done['id']}/steps/1/photo",
        headers=op,
        files={"photo": ("visor.png", PNG, "image/png")},
    )
    assert photo.status_code == 201, photo.text
    await run_yearly(client, op, done["id"])
    completed = (await client.post(f"{T}/{done['id']}/complete", headers=op)).json()
    sha = completed["sha256"]
    assert sha
    # a report finished before sealing existed
    async with sessionmaker() as session, session.begin():
        legacy = TestReport(
            test_scenario_id=setup["scenario"]["id"],
            device_id=setup["device"],
            customer_id=setup["customer"],
            start_time=datetime(2024, 1, 5, 8, 0, tzinfo=UTC),
            end_time=datetime(2024, 1, 5, 8, 9, tzinfo=UTC),
            status="completed",
            results={"verdict": "passed", "steps": []},
        )
        session.add(legacy)
    # a running test, and one idle past the timeout (the sweep's, not a reader's, to close)
    running = await start(client, setup)
    other = await add_device(
        sessionmaker, "FFM-2", kind="full_face_mask", serial=True, customer_id=setup["customer"]
    )
    idle = await start(client, {**setup, "device": other})
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(TestReportActivity)
            .where(TestReportActivity.report_id == idle["id"])
            .values(last_activity_at=utcnow() - timedelta(days=1))
        )

    before = await _counts(sessionmaker)
    reads: list[tuple[str, dict[str, str], dict[str, Any], int]] = [
        (f"{T}/catalog", op, {}, 200),
        (f"{T}/devices", op, {"q": "FFM"}, 200),
        (f"{T}/running", op, {}, 200),
        (f"{T}/{running['id']}", op, {}, 200),
        (f"{T}/{idle['id']}", op, {}, 200),
        (f"{T}/{done['id']}/samples", op, {"step_order": 2}, 200),
        (R, op, {}, 200),
        (R, manager, {"status": "completed"}, 200),
        (f"{R}/names/operators", manager, {"q": "o"}, 200),
        (f"{R}/names/customers", manager, {}, 200),
        (f"{R}/export", manager, {}, 200),
        (f"{R}/verify", op, {"sha256": sha}, 200),
        (f"{R}/verify", op, {"sha256": "0" * 64}, 404),
        (f"{R}/{done['id']}", op, {}, 200),
        (f"{R}/{legacy.id}", manager, {}, 200),
        (f"{R}/{done['id']}/pdf", op, {}, 200),
        (f"{R}/{done['id']}/pdf", manager, {"lang": "pl"}, 200),
        (f"{R}/{legacy.id}/pdf", manager, {}, 409),
        (f"{R}/{running['id']}/pdf", op, {}, 409),
        (f"{R}/{done['id']}/attachments/{photo.json()['id']}", op, {}, 200),
    ]
    with recorded_writes(app) as writes:
        for path, headers, params, status in reads:
            r = await client.get(path, headers=headers, params=params)
            assert r.status_code == status, (path, r.status_code, r.text)
    assert writes == []
    assert await _counts(sessionmaker) == before
    listed = (await client.get(f"{T}/running", headers=op)).json()
    assert [t["id"] for t in listed] == [running["id"]]
    found = (await client.get(f"{T}/devices", headers=op, params={"q": "FFM"})).json()
    assert {d["device_number"]: d["running_test_id"] for d in found} == {
        "FFM-1": running["id"],
        "FFM-2": None,  # idle past the timeout: starting a test there sweeps it first
    }
