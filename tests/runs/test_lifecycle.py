"""Tests in progress: listed for every operator, resumed (taken over) from another browser,
aborted by anyone with a reason, and closed as abandoned by the idle sweep, which frees the
device, writes an audit row, seals the report and is counted as aborted by the dashboard."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.db import utcnow
from fleet.models import SystemLog, TestReport, TestReportActivity, TestReportSeal
from fleet.runs import lifecycle
from tests.conftest import add_user, bearer, login
from tests.runs import test_runs_api
from tests.runs.test_runs_api import R, T, run_yearly, start, step

setup = test_runs_api.setup  # the fixture: a customer, a device, the yearly scenario


async def _age(factory: async_sessionmaker[AsyncSession], report_id: int, minutes: int) -> None:
    """Pretend the test was last touched ``minutes`` ago."""
    async with factory() as session, session.begin():
        await session.execute(
            update(TestReportActivity)
            .where(TestReportActivity.report_id == report_id)
            .values(last_activity_at=utcnow() - timedelta(minutes=minutes))
        )


async def test_running_list_resume_by_another_operator_and_finish(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    test = await start(client, setup)
    tid = test["id"]
    assert (await step(client, setup["op"], tid, 1, result="passed")).status_code == 200
    await add_user(sessionmaker, "op2", "operator")
    op2 = bearer(await login(client, "op2"))
    listed = (await client.get(f"{T}/running", headers=op2)).json()
    assert [t["id"] for t in listed] == [tid]
    row = listed[0]
    assert row["operator"] == "u_operator" and row["steps_done"] == 1
    assert row["current_step"] == 2 and row["device_number"] == "FFM-1"
    assert row["last_activity_at"] is not None
    # the other operator reads the running test but records nothing before taking it over
    assert (await client.get(f"{T}/{tid}", headers=op2)).status_code == 200
    r = await step(client, op2, tid, 2, source="bench")
    assert r.status_code == 403 and "resume" in r.json()["detail"]
    r = await client.post(f"{T}/{tid}/resume", headers=op2)
    assert r.status_code == 200, r.text
    state = r.json()
    assert state["results"]["operator"]["username"] == "op2"
    assert state["results"]["handovers"][0]["to"] == state["operator_id"]
    # the first operator's browser can no longer write
    assert (await step(client, setup["op"], tid, 2, source="bench")).status_code == 403
    await run_yearly(client, op2, tid, from_step=2)
    done = (await client.post(f"{T}/{tid}/complete", headers=op2)).json()
    assert done["status"] == "completed" and done["verdict"] == "passed"
    assert (await client.post(f"{T}/{tid}/resume", headers=op2)).status_code == 409
    async with sessionmaker() as session:
        actions = (
            await session.scalars(select(SystemLog.action).where(SystemLog.action == "test.resume"))
        ).all()
    assert actions == ["test.resume"]
    # the finished test is op2's report now; the first operator no longer reads it
    assert (await client.get(f"{R}/{tid}", headers=setup["op"])).status_code == 403
    assert (await client.get(f"{T}/running", headers=op2)).json() == []


async def test_any_operator_aborts_with_a_reason(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    test = await start(client, setup)
    await add_user(sessionmaker, "op3", "operator")
    op3 = bearer(await login(client, "op3"))
    r = await client.post(f"{T}/{test['id']}/abort", headers=op3, json={})
    assert r.status_code == 422
    r = await client.post(
        f"{T}/{test['id']}/abort", headers=op3, json={"reason": "left behind, mask gone"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "aborted"
    assert r.json()["results"]["abort"]["reason"] == "left behind, mask gone"
    # the device is free again
    again = await start(client, setup)
    assert again["id"] != test["id"]


async def test_idle_sweep_abandons_once_and_frees_the_device(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    test = await start(client, setup)
    tid = test["id"]
    await step(client, setup["op"], tid, 1, result="passed")
    # recent activity: nothing happens
    async with sessionmaker() as session, session.begin():
        assert await lifecycle.sweep_idle(session, 120) == []
    await _age(sessionmaker, tid, 121)

    async def sweep() -> list[int]:
        async with sessionmaker() as session, session.begin():
            return await lifecycle.sweep_idle(session, 120)

    # several workers sweeping at the same moment close the test exactly once
    results = await asyncio.gather(sweep(), sweep(), sweep())
    assert sorted(i for ids in results for i in ids) == [tid]
    async with sessionmaker() as session, session.begin():
        assert await lifecycle.sweep_idle(session, 120) == []
        report = await session.get(TestReport, tid)
        assert report is not None and report.status == "aborted" and report.end_time
        assert report.results["abort"]["kind"] == "abandoned"
        assert "120 minutes" in report.results["abort"]["reason"]
        assert await session.get(TestReportSeal, tid) is not None
        audits = await session.scalar(
            select(func.count()).select_from(SystemLog).where(SystemLog.action == "test.abandon")
        )
        assert audits == 1
    # the report reads as aborted, its PDF prints, the device takes a new test
    got = (await client.get(f"{R}/{tid}", headers=setup["op"])).json()
    assert got["status"] == "aborted" and got["verdict"] is None
    pdf = await client.get(f"{R}/{tid}/pdf", headers=setup["op"])
    assert pdf.status_code == 200
    assert (await start(client, setup))["id"] != tid
    manager = setup["h"]["manager"]
    dash = (await client.get("/api/v1/fleet-data/dashboard?fresh=true", headers=manager)).json()
    counted = {item["label"]: item["count"] for item in dash["tests_by_verdict"]}
    assert counted.get("aborted") == 1 and counted.get("in_progress") == 1


async def test_a_start_on_an_idle_device_sweeps_first(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    test = await start(client, setup)
    body = {"scenario_id": setup["scenario"]["id"], "device_id": setup["device"]}
    r = await client.post(f"{T}/start", headers=setup["op"], json=body)
    assert r.status_code == 409
    await _age(sessionmaker, test["id"], 500)
    r = await client.post(f"{T}/start", headers=setup["op"], json=body)
    assert r.status_code == 201, r.text
    async with sessionmaker() as session:
        old = await session.get(TestReport, test["id"])
        assert old is not None and old.status == "aborted"


async def test_a_test_without_an_activity_row_ages_from_its_start(
    client: httpx.AsyncClient,
    setup: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    test = await start(client, setup)
    async with sessionmaker() as session, session.begin():
        await session.execute(
            TestReportActivity.__table__.delete().where(
                TestReportActivity.report_id == test["id"]
            )
        )
        await session.execute(
            update(TestReport)
            .where(TestReport.id == test["id"])
            .values(start_time=utcnow() - timedelta(hours=5))
        )
    listed = (await client.get(f"{T}/running", headers=setup["op"])).json()
    assert listed == []  # idle past the timeout: left out of the list ...
    async with sessionmaker() as session:
        report = await session.get(TestReport, test["id"])
        assert report is not None and report.status == "in_progress"  # ... which wrote nothing
    async with sessionmaker() as session, session.begin():
        assert await lifecycle.sweep_idle(session, 120) == [test["id"]]  # the sweep closes it
