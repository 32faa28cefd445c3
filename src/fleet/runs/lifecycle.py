"""Tests in progress as first-class records: their last activity, the list of running tests,
taking a test over from another browser or operator, and the idle sweep that closes a test
nobody touched for ``FLEET_TEST_IDLE_TIMEOUT_MINUTES`` as ``aborted`` (abandoned).

The sweep claims idle tests with one ``UPDATE ... WHERE status = 'in_progress' AND idle``:
several workers or hosts may sweep at once, and each idle test is closed exactly once (the
row lock on PostgreSQL, the write lock on SQLite make the second UPDATE find nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import audit_for, record
from fleet.auth.deps import Principal
from fleet.db import utcnow
from fleet.errors import Conflict
from fleet.models import Customer, TestReport, TestReportActivity, User
from fleet.runs import reports
from fleet.state import app_state

log = logging.getLogger(__name__)

ABANDONED = "abandoned"


async def touch(session: AsyncSession, report_id: int, moment: datetime | None = None) -> None:
    """Record activity on a running test now (in the caller's transaction)."""
    moment = moment or utcnow()
    done = await session.execute(
        update(TestReportActivity)
        .where(TestReportActivity.report_id == report_id)
        .values(last_activity_at=moment)
        .execution_options(synchronize_session=False)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        session.add(TestReportActivity(report_id=report_id, last_activity_at=moment))
        await session.flush()


def last_activity_column() -> Any:
    """The moment a report was last touched: its activity row, else its start."""
    return func.coalesce(
        select(TestReportActivity.last_activity_at)
        .where(TestReportActivity.report_id == TestReport.id)
        .correlate(TestReport)
        .scalar_subquery(),
        TestReport.start_time,
    )


async def sweep_idle(
    session: AsyncSession, idle_minutes: int, now: datetime | None = None
) -> list[int]:
    """Close every running test idle for longer than ``idle_minutes`` as aborted (abandoned);
    answers the ids this call closed. Idempotent and safe to run in parallel."""
    now = now or utcnow()
    cutoff = now - timedelta(minutes=idle_minutes)
    claimed = await session.execute(
        update(TestReport)
        .where(TestReport.status == "in_progress", last_activity_column() < cutoff)
        .values(status="aborted", end_time=now)
        .returning(TestReport.id)
        .execution_options(synchronize_session=False)
    )
    ids = sorted(int(row[0]) for row in claimed)
    for report_id in ids:
        report = await session.get(TestReport, report_id, populate_existing=True)
        if report is None:  # pragma: no cover - the row was just updated
            continue
        results = copy.deepcopy(report.results if isinstance(report.results, dict) else {})
        results["verdict"] = None
        results["current_step"] = None
        reason = f"abandoned: no activity for more than {idle_minutes} minutes"
        results["abort"] = {
            "reason": reason,
            "by": None,
            "at": now.isoformat(),
            "kind": ABANDONED,
        }
        report.results = results
        await session.flush()
        await reports.seal(session, report)
        record(
            session,
            "test.abandon",
            level="WARNING",
            details={
                "entity": "test_report",
                "id": report.id,
                "device_id": report.device_id,
                "reason": reason,
            },
        )
    return ids


async def running_tests(
    session: AsyncSession,
    limit: int = 200,
    *,
    idle_minutes: int | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The tests in progress, newest first, with device, scenario, operator and last activity.

    ``idle_minutes``: leave out the tests idle for longer (the ones the idle sweep closes as
    abandoned), without closing them here: listing is a read."""
    last = last_activity_column().label("last_activity_at")
    stmt = (
        select(TestReport, User.username, Customer.name, last)
        .outerjoin(User, User.id == TestReport.operator_id)
        .outerjoin(Customer, Customer.id == TestReport.customer_id)
        .where(TestReport.status == "in_progress")
    )
    if idle_minutes is not None:
        cutoff = (now or utcnow()) - timedelta(minutes=idle_minutes)
        stmt = stmt.where(last_activity_column() >= cutoff)
    rows = (
        await session.execute(
            stmt.order_by(TestReport.start_time.desc(), TestReport.id.desc()).limit(limit)
        )
    ).all()
    out = []
    for report, username, customer, last_at in rows:
        results = report.results if isinstance(report.results, dict) else {}
        steps = [s for s in results.get("steps") or [] if isinstance(s, dict)]
        if isinstance(last_at, str):  # SQLite answers a scalar subquery untyped
            last_at = datetime.fromisoformat(last_at)
        out.append(
            {
                "id": report.id,
                "device_id": report.device_id,
                "device_number": (results.get("device") or {}).get("device_number"),
                "scenario_name": (results.get("scenario") or {}).get("name"),
                "operator_id": report.operator_id,
                "operator": username,
                "customer_name": customer,
                "start_time": report.start_time,
                "last_activity_at": last_at,
                "current_step": results.get("current_step"),
                "steps_done": sum(1 for s in steps if s.get("result") is not None),
                "steps_total": len(steps),
            }
        )
    return out


async def resume(session: AsyncSession, actor: Principal, report: TestReport) -> TestReport:
    """Take a running test over: the actor becomes its operator from now on (the hand-over is
    kept in the report and the audit log); resuming one's own test only marks activity."""
    if report.status != "in_progress":
        raise Conflict(f"Test {report.id} is {report.status}; it cannot be resumed")
    previous = report.operator_id
    if previous != actor.user_id:
        results = copy.deepcopy(report.results if isinstance(report.results, dict) else {})
        results.setdefault("handovers", []).append(
            {"from": previous, "to": actor.user_id, "at": utcnow().isoformat()}
        )
        results["operator"] = {"id": actor.user_id, "username": actor.user.username}
        report.results = results
        report.operator_id = actor.user_id
        await session.flush()
    await touch(session, report.id)
    audit_for(actor).record(
        session,
        "test.resume",
        details={"entity": "test_report", "id": report.id, "from_operator": previous},
    )
    return report


async def _sweep_forever(app: FastAPI) -> None:
    state = app_state(app)
    settings, factory = state.settings, state.sessionmaker
    while True:
        try:
            async with factory() as session, session.begin():
                closed = await sweep_idle(session, settings.test_idle_timeout_minutes)
            if closed:
                log.info("closed idle tests as abandoned: %s", closed)
        except Exception:
            log.exception("idle test sweep failed; retrying")
        await asyncio.sleep(settings.test_sweep_seconds)


@asynccontextmanager
async def sweeping(app: FastAPI) -> AsyncIterator[None]:
    """Run the idle-test sweep while the app serves."""
    task = asyncio.create_task(_sweep_forever(app))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
