"""What the test engine tells the workshop: may this item be tested, and a test has finished.

The run engine calls exactly these two functions; everything the workshop does about a test
(the gate, the outcome row, a proposed repair order, the release test, new due dates) is here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Executable, Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import dialect as sql_dialect
from fleet.audit.service import record
from fleet.db import utcnow
from fleet.errors import Conflict
from fleet.models import (
    Device,
    TestReport,
    TestScenario,
    WorkshopDue,
    WorkshopRepairOrder,
    WorkshopStatDay,
    WorkshopStepOutcome,
    WorkshopTestOutcome,
)
from fleet.workshop import reasons, records


async def ensure_may_start(session: AsyncSession, device: Device) -> None:
    """Refuse a test on a blocked item (409 naming the reason).

    Blocked means an expired life limit or an overdue component, both stored due entries with
    effect ``block``: one indexed query, the only cost a test start pays to the workshop."""
    if device.status == "decommissioned":
        return
    block = await session.scalar(
        select(WorkshopDue.reason)
        .where(
            WorkshopDue.device_id == device.id,
            WorkshopDue.effect == "block",
            WorkshopDue.due_at <= utcnow(),
        )
        .order_by(WorkshopDue.due_at)
        .limit(1)
    )
    if block is not None:
        raise Conflict(f"Device {device.device_number} is blocked: {reasons.load(block).english()}")


def _steps(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in results.get("steps") or [] if isinstance(s, dict)]


def _step_result(step: dict[str, Any]) -> str | None:
    value = step.get("result", step.get("status"))
    return value if isinstance(value, str) else None


def failed_steps(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Answer the failed steps of a report's results: order, name and why (in English, and
    the step's evaluation and limits, from which the pages say it in the user's language)."""
    out = []
    for step in _steps(results):
        if _step_result(step) != "failed":
            continue
        evaluation = step.get("evaluation") if isinstance(step.get("evaluation"), dict) else {}
        out.append(
            {
                "step_order": step.get("step_order"),
                "step_name": step.get("step_name"),
                "reason": (evaluation or {}).get("reason") or step.get("notes"),
                "evaluation": evaluation or None,
                "criteria": step.get("criteria"),
            }
        )
    return out


def findings_of(steps: list[dict[str, Any]]) -> str | None:
    """The findings a proposed order starts with: each failed step and why."""
    return (
        "; ".join(
            f"step {s['step_order']} {s['step_name']} failed"
            + (f": {s['reason']}" if s.get("reason") else "")
            for s in steps
        )
        or None
    )


def outcome_rows(
    report: TestReport,
    device: Device,
    kind_of_test: str | None,
    previous_failure: datetime | None,
) -> tuple[WorkshopTestOutcome, list[WorkshopStepOutcome]]:
    """Flatten a finished report into its outcome row and step rows (not yet added)."""
    tested_at = report.end_time or report.start_time
    failed = report.status == "failed"
    gap = None
    if failed and previous_failure is not None:
        gap = (tested_at - previous_failure).total_seconds() / 86400
    outcome = WorkshopTestOutcome(
        report_id=report.id,
        device_id=device.id,
        customer_id=report.customer_id,
        device_type=device.device_type,
        kind_of_device=device.kind_of_device,
        kind_of_test=kind_of_test,
        tested_at=tested_at,
        failed=failed,
        gap_days=gap,
    )
    steps = []
    results = report.results if isinstance(report.results, dict) else {}
    for step in _steps(results):
        result = _step_result(step)
        if result is None or result == "skipped" or not step.get("step_name"):
            continue
        steps.append(
            WorkshopStepOutcome(
                report_id=report.id,
                step_name=str(step["step_name"])[:255],
                tested_at=tested_at,
                failed=result == "failed",
            )
        )
    return outcome, steps


def previous_failure_query(device_id: int, before: datetime) -> Select[datetime]:
    """The newest failed test of an item before a moment."""
    return (
        select(WorkshopTestOutcome.tested_at)
        .where(
            WorkshopTestOutcome.device_id == device_id,
            WorkshopTestOutcome.failed.is_(True),
            WorkshopTestOutcome.tested_at < before,
        )
        .order_by(WorkshopTestOutcome.tested_at.desc())
        .limit(1)
    )


def outcome_dict(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key != "id"}


def stat_rows(outcomes: list[dict[str, Any]], steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The daily statistics increments of some outcomes and their steps, one row per key."""
    acc: dict[tuple[str, str, str, date], list[Any]] = {}

    def add(dimension: str, key: str, at: datetime, failed: bool, gap: float | None) -> None:
        day = at.astimezone(UTC).date()
        for span, bucket in (("d", day), ("m", day.replace(day=1))):
            row = acc.setdefault((dimension, span, key[:255], bucket), [0, 0, 0.0, 0])
            row[0] += 1
            row[1] += int(failed)
            if gap is not None:
                row[2] += gap
                row[3] += 1

    for o in outcomes:
        customer = "" if o["customer_id"] is None else str(o["customer_id"])
        for dimension, key in (
            ("device_type", o["device_type"]),
            ("kind_of_device", o["kind_of_device"] or ""),
            ("customer", customer),
        ):
            add(dimension, key, o["tested_at"], o["failed"], o["gap_days"])
    for step in steps:
        add("step", step["step_name"], step["tested_at"], step["failed"], None)
    return [
        {
            "dimension": d,
            "span": span,
            "key": k,
            "day": day,
            "tests": v[0],
            "failures": v[1],
            "gap_sum": v[2],
            "gap_count": v[3],
        }
        for (d, span, k, day), v in acc.items()
    ]


def upsert_stats(dialect: str) -> Executable:
    """Add daily increments onto the statistics rows (the one dialect-specific statement)."""
    ins = sql_dialect.insert(dialect, WorkshopStatDay)
    return ins.on_conflict_do_update(
        index_elements=["dimension", "span", "key", "day"],
        set_={
            "tests": WorkshopStatDay.tests + ins.excluded.tests,
            "failures": WorkshopStatDay.failures + ins.excluded.failures,
            "gap_sum": WorkshopStatDay.gap_sum + ins.excluded.gap_sum,
            "gap_count": WorkshopStatDay.gap_count + ins.excluded.gap_count,
        },
    )


def write_outcomes_plan(
    dialect: str, outcomes: list[dict[str, Any]], steps: list[dict[str, Any]]
) -> records.Plan[None]:
    """Store outcomes, their steps and their statistics increments."""
    if outcomes:
        yield insert(WorkshopTestOutcome), outcomes
    if steps:
        yield insert(WorkshopStepOutcome), steps
    stats = stat_rows(outcomes, steps)
    if stats:
        yield upsert_stats(dialect), stats
    return None


def backfill_plan(dialect: str, batch: int = 2000) -> records.Plan[int]:
    """Write the outcomes of finished tests that have none (tests older than the workshop, or
    imported); answers how many were written."""
    flows = {i: flow for i, flow in (yield select(TestScenario.id, TestScenario.test_flow), None)}
    created = 0
    while True:
        rows = yield (
            select(TestReport, Device)
            .join(Device, Device.id == TestReport.device_id)
            .outerjoin(WorkshopTestOutcome, WorkshopTestOutcome.report_id == TestReport.id)
            .where(
                WorkshopTestOutcome.report_id.is_(None),
                TestReport.status.in_(("completed", "failed")),
            )
            .order_by(TestReport.id)
            .limit(batch),
            None,
        )
        if not rows:
            return created
        failures: dict[int, list[datetime]] = {}
        for device_id, tested_at in (
            yield (
                select(WorkshopTestOutcome.device_id, WorkshopTestOutcome.tested_at).where(
                    WorkshopTestOutcome.failed.is_(True),
                    WorkshopTestOutcome.device_id.in_({d.id for _, d in rows}),
                ),
                None,
            )
        ):
            failures.setdefault(device_id, []).append(tested_at)
        for report, _device in rows:
            if report.status == "failed" and report.device_id is not None:
                failures.setdefault(report.device_id, []).append(
                    report.end_time or report.start_time
                )
        outcomes: list[dict[str, Any]] = []
        steps: list[dict[str, Any]] = []
        for report, device in rows:
            tested_at = report.end_time or report.start_time
            earlier = [t for t in failures.get(device.id, []) if t < tested_at]
            outcome, step_rows = outcome_rows(
                report,
                device,
                kind_of_test(report, flows.get(report.test_scenario_id or 0)),
                max(earlier) if earlier else None,
            )
            outcomes.append(outcome_dict(outcome))
            steps.extend(outcome_dict(s) for s in step_rows)
        yield from write_outcomes_plan(dialect, outcomes, steps)
        created += len(outcomes)


async def record_outcome(
    session: AsyncSession, report: TestReport, device: Device, kind_of_test: str | None
) -> WorkshopTestOutcome | None:
    """Flatten a finished report into an outcome row (and its steps); answers it."""
    if report.status not in ("completed", "failed"):
        return None
    previous = await session.scalar(
        previous_failure_query(device.id, report.end_time or report.start_time)
    )
    outcome, steps = outcome_rows(report, device, kind_of_test, previous)
    plan = write_outcomes_plan(
        sql_dialect.name_of(session), [outcome_dict(outcome)], [outcome_dict(x) for x in steps]
    )
    await records.run_plan(session, plan)
    return outcome


def kind_of_test(report: TestReport, flow: Any) -> str | None:
    """The kind of test a report ran: its snapshot, else its scenario's flow."""
    results = report.results if isinstance(report.results, dict) else {}
    scenario = results.get("scenario")
    if isinstance(scenario, dict) and isinstance(scenario.get("kind_of_test"), str):
        return str(scenario["kind_of_test"])
    kind = flow.get("kind_of_test") if isinstance(flow, dict) else None
    return kind if isinstance(kind, str) else None


async def kind_of_test_of(session: AsyncSession, report: TestReport) -> str | None:
    """The kind of test a report ran (reads its scenario only when the snapshot lacks it)."""
    flow = None
    if report.test_scenario_id is not None and not isinstance(
        (report.results or {}).get("scenario"), dict
    ):
        flow = await session.scalar(
            select(TestScenario.test_flow).where(TestScenario.id == report.test_scenario_id)
        )
    return kind_of_test(report, flow)


async def test_finished(session: AsyncSession, report: TestReport, user_id: int | None) -> None:
    """Take a finished test into the workshop: outcome, proposed order or release, due dates."""
    if report.device_id is None:
        return
    device = await session.get(Device, report.device_id)
    if device is None:
        return
    outcome = await record_outcome(session, report, device, await kind_of_test_of(session, report))
    if outcome is None:
        return
    if outcome.failed:
        await propose_order(session, report, device, user_id)
    else:
        await session.execute(
            update(WorkshopRepairOrder)
            .where(
                WorkshopRepairOrder.device_id == device.id,
                WorkshopRepairOrder.state == "done",
                WorkshopRepairOrder.release_report_id.is_(None),
                WorkshopRepairOrder.finished_at < outcome.tested_at,
            )
            .values(release_report_id=report.id)
        )
    await records.refresh_due(session, [device.id])


async def propose_order(
    session: AsyncSession, report: TestReport, device: Device, user_id: int | None
) -> WorkshopRepairOrder | None:
    """Propose a repair order from a failed test, unless the item already has one pending."""
    pending = await session.scalar(
        select(WorkshopRepairOrder.id).where(
            WorkshopRepairOrder.device_id == device.id,
            WorkshopRepairOrder.state.in_(records.PENDING_STATES),
        )
    )
    if pending is not None:
        return None
    steps = failed_steps(report.results if isinstance(report.results, dict) else {})
    order = WorkshopRepairOrder(
        device_id=device.id,
        state="proposed",
        origin="failed_test",
        trigger_report_id=report.id,
        failed_steps=steps,
        findings=findings_of(steps),
        created_by=user_id,
    )
    session.add(order)
    await session.flush()
    record(
        session,
        "workshop.order.propose",
        user_id=user_id,
        details={
            "entity": "repair_order",
            "id": order.id,
            "device_id": device.id,
            "trigger_report_id": report.id,
        },
    )
    return order
