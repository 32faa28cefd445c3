"""The run engine: start a test, record steps in order, evaluate criteria, complete or abort."""

from __future__ import annotations

import copy
import hashlib
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import due
from fleet.audit.service import audit_for
from fleet.auth.deps import Principal
from fleet.db import flush_or_conflict, lock_row, utcnow
from fleet.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from fleet.models import (
    Configuration,
    Customer,
    Device,
    TestReport,
    TestReportSeal,
    TestScenario,
    TestStepAttachment,
)
from fleet.ops.metrics import TEST_VERDICTS
from fleet.runs import bench, criteria, lifecycle, reports
from fleet.runs.live import BenchRun, BenchRunner
from fleet.runs.samples import (
    append_samples,
    current_step,
    empty_pressure_data,
    sample_count,
    step_block,
    step_samples,
)
from fleet.runs.schemas import BenchStart, SamplesPost, StepSubmit, TestStart
from fleet.scenarios import flow as flowlib
from fleet.workshop import hooks as workshop

OPERATOR_RESULTS = ("passed", "failed", "warning", "skipped")
MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}


async def interval_months(session: AsyncSession, flow: dict[str, Any]) -> int:
    """Months to the next test: the flow's ``interval_months``, else the system configuration
    ``test_intervals`` for the flow's ``kind_of_test``, else the default (12)."""
    months = flow.get("interval_months")
    if isinstance(months, int) and not isinstance(months, bool) and months >= 0:
        return months
    kind = flow.get("kind_of_test")
    if isinstance(kind, str):
        value = await session.scalar(
            select(Configuration.config_value).where(Configuration.config_key == "test_intervals")
        )
        if isinstance(value, dict):
            configured = value.get(kind)
            if isinstance(configured, int) and not isinstance(configured, bool) and configured >= 0:
                return configured
    return due.DEFAULT_INTERVAL_MONTHS


async def get_report(session: AsyncSession, report_id: int, *, lock: bool = False) -> TestReport:
    """Load a report or raise 404.

    ``lock``: every writer of a test (its ``results`` or its trace, ``pressure_data``) locks
    the report first (see ``fleet.db.lock_row``), so none rewrites what another just wrote.
    """
    if lock:
        report = await lock_row(session, TestReport, report_id)
    else:
        report = await session.scalar(select(TestReport).where(TestReport.id == report_id))
    if report is None:
        raise NotFound("Test not found")
    return report


def check_may_read(actor: Principal, report: TestReport) -> None:
    """Operators read their own tests, and any test still running (to resume or abort it);
    every other role reads all."""
    if report.status == "in_progress":
        return
    if actor.active_role == "operator" and report.operator_id != actor.user_id:
        raise Forbidden("This test belongs to another operator")


def check_may_run(actor: Principal, report: TestReport) -> None:
    """Only the test's operator (or a supervising role) records its steps; another operator
    takes the test over first (``POST /tests/{id}/resume``)."""
    if report.operator_id != actor.user_id and actor.active_role == "operator":
        raise Forbidden("This test belongs to another operator; resume it to take it over")




async def start_test(
    session: AsyncSession, actor: Principal, body: TestStart, idle_minutes: int | None = None
) -> TestReport:
    """Open a report ``in_progress`` for one device; a device runs one test at a time (409)."""
    scenario = await session.get(TestScenario, body.scenario_id)
    if scenario is None:
        raise NotFound("Scenario not found")
    if not scenario.is_active:
        raise Conflict("Scenario is not active")
    device = await session.scalar(
        select(Device).where(Device.id == body.device_id).with_for_update()
    )
    if device is None:
        raise NotFound("Device not found")
    if scenario.device_type and device.device_type != scenario.device_type:
        raise ValidationFailed(
            f"Scenario is for {scenario.device_type} devices; device {device.device_number} is "
            f"a {device.device_type}"
        )
    if device.status == "inactive":
        raise Conflict(f"Device {device.device_number} is inactive")
    if idle_minutes is not None:  # a test left idle on this device no longer blocks it
        await lifecycle.sweep_idle(session, idle_minutes)
    await workshop.ensure_may_start(session, device)
    customer_id = body.customer_id if body.customer_id is not None else device.customer_id
    if customer_id is not None and await session.get(Customer, customer_id) is None:
        raise ValidationFailed("Customer not found")
    busy = await session.scalar(
        select(TestReport.id).where(
            TestReport.device_id == device.id, TestReport.status == "in_progress"
        )
    )
    if busy is not None:
        raise Conflict(f"Device {device.device_number} is already running test {busy}")
    flow = flowlib.normalise(scenario.test_flow or {})
    if flowlib.check(flow):
        raise Conflict("Scenario's test_flow is not valid; fix it in Connect Manager first")
    steps = flowlib.steps_of(flow)
    report = TestReport(
        test_scenario_id=scenario.id,
        device_id=device.id,
        operator_id=actor.user_id,
        customer_id=customer_id,
        start_time=utcnow(),
        status="in_progress",
        results={
            "scenario": {
                "id": scenario.id,
                "name": scenario.name,
                "device_type": scenario.device_type,
                "kind_of_test": flow.get("kind_of_test"),
                "interval_months": await interval_months(session, flow),
            },
            "device": {
                "id": device.id,
                "device_number": device.device_number,
                "device_type": device.device_type,
                "kind_of_device": device.kind_of_device,
                "serial_number": device.serial_number,
            },
            "operator": {"id": actor.user_id, "username": actor.user.username},
            "flow": copy.deepcopy(flow),
            "continue_on_failure": bool(flow.get("continue_on_failure")),
            "current_step": 1,
            "steps": [reports.step_state(s) for s in steps],
            "verdict": None,
        },
        pressure_data=empty_pressure_data(),
    )
    session.add(report)
    number = device.device_number
    # Another start may have won the race for this device.
    await flush_or_conflict(session, f"Device {number} is already running a test")
    await lifecycle.touch(session, report.id)
    audit_for(actor).record(
        session,
        "test.start",
        details={
            "entity": "test_report",
            "id": report.id,
            "scenario_id": scenario.id,
            "device_id": device.id,
        },
    )
    return report


def results_of(report: TestReport) -> dict[str, Any]:
    """Answer a report's ``results`` (empty when missing)."""
    return report.results if isinstance(report.results, dict) else {}


def _save(report: TestReport, results: dict[str, Any]) -> None:
    report.results = results  # a new object, so the JSON column is written


def _check_measurements(measurements: dict[str, Any] | None) -> dict[str, float] | None:
    if measurements is None:
        return None
    clean = {}
    for key, value in measurements.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationFailed(f"measurements.{key}: must be a number")
        if not math.isfinite(value):
            raise ValidationFailed(f"measurements.{key}: must be finite")
        clean[key] = float(value)
    return clean


async def submit_step(
    session: AsyncSession,
    actor: Principal,
    report: TestReport,
    step_order: int,
    body: StepSubmit,
    *,
    bench_enabled: bool,
) -> dict[str, Any]:
    """Record the current step: the operator's result, or an evaluation of its samples.

    A required step that fails ends the test as failed unless the flow says
    ``continue_on_failure``. Answers the step's state with its evaluation.
    """
    check_may_run(actor, report)
    if report.status != "in_progress":
        raise Conflict(f"Test {report.id} is {report.status}; it takes no more results")
    state = current_step(report)
    if state is None:
        raise Conflict("Every step is recorded; complete the test")
    if step_order != state["step_order"]:
        raise Conflict(f"Step {state['step_order']} is next, not step {step_order}")
    crit = state.get("criteria") or {"type": "boolean"}
    measurements = _check_measurements(body.measurements)
    if body.result == "skipped":
        if state["required"]:
            raise ValidationFailed(f"Step {step_order} is required; it cannot be skipped")
        if body.samples or measurements or body.source:
            raise BadRequest("A skipped step takes no samples or measurements")
        evaluation: dict[str, Any] = {
            "result": "skipped",
            "type": crit.get("type"),
            "signal": None,
            "measured": {},
            "limits": {},
            "reason": "skipped by the operator",
        }
    else:
        if not state["auto_test"]:
            if body.samples or body.source:
                raise BadRequest(f"Step {step_order} is an operator step; it takes no samples")
            if body.result is None:
                raise ValidationFailed(f"Step {step_order} needs the operator's result")
        elif crit.get("type") != "boolean" and body.result is not None:
            raise ValidationFailed(
                f"Step {step_order} is evaluated from its samples; the operator gives no result"
            )
        if body.source == "bench":
            if not bench_enabled:
                raise Conflict("The simulated bench is disabled on this server")
            if sample_count(report, step_order):
                raise Conflict(f"Step {step_order} already has samples")
            generated = bench.generate(
                state | {"parameters": _flow_step(report, step_order).get("parameters")},
                flowlib.steps_of(results_of(report)["flow"]),
                body.bench_profile or "good",
                seed=report.id * 100 + step_order,
            )
            await append_samples(session, report, generated, step_order=step_order, source="bench")
        if body.samples:
            await append_samples(
                session,
                report,
                [s.model_dump(exclude_none=True) for s in body.samples],
                step_order=step_order,
                source="operator",
            )
        if state["auto_test"] and crit.get("type") != "boolean":
            has_data = sample_count(report, step_order) or measurements
            if not has_data:
                raise ValidationFailed(
                    f"Step {step_order} has no samples or measurements to evaluate"
                )
        evaluation = criteria.evaluate(
            crit, step_samples(report, step_order), measurements, body.result
        ).as_dict()
    results = copy.deepcopy(results_of(report))
    for step in results["steps"]:
        if step["step_order"] == step_order:
            step.update(
                result=evaluation["result"],
                evaluation=evaluation,
                notes=body.notes,
                measurements=measurements,
                recorded_at=utcnow().isoformat(),
                recorded_by=actor.user_id,
            )
            state = step
    orders = [s["step_order"] for s in results["steps"]]
    index = orders.index(step_order)
    results["current_step"] = orders[index + 1] if index + 1 < len(orders) else None
    _save(report, results)
    await lifecycle.touch(session, report.id)
    stop = (
        evaluation["result"] == "failed"
        and state["required"]
        and not results.get("continue_on_failure")
    )
    if stop:
        await finish(session, actor, report, reason=f"required step {step_order} failed")
    else:
        await session.flush()
    audit_for(actor).record(
        session,
        "test.step",
        details={
            "entity": "test_report",
            "id": report.id,
            "step_order": step_order,
            "result": evaluation["result"],
        },
    )
    return state


def _flow_step(report: TestReport, step_order: int) -> dict[str, Any]:
    for step in flowlib.steps_of((report.results or {}).get("flow")):
        if step.get("step_order") == step_order:
            return step
    return {}


def verdict_of(steps: list[dict[str, Any]]) -> str:
    """Failed if a required step failed; warning if any warned (or an optional step failed)."""
    if any(s["result"] == "failed" and s["required"] for s in steps):
        return "failed"
    if any(s["result"] in ("warning", "failed") for s in steps):
        return "warning"
    return "passed"


async def finish(
    session: AsyncSession, actor: Principal, report: TestReport, reason: str | None = None
) -> TestReport:
    """Close a test with its verdict, seal it, and set the device's next due date.

    Passed and warning tests count as tests (status ``completed``) and move the due date; a
    failed test (status ``failed``) does not: the mask is not fit for use, so it stays due.
    """
    results = copy.deepcopy(results_of(report))
    verdict = verdict_of([s for s in results["steps"] if s["result"] is not None])
    results["verdict"] = verdict
    results["current_step"] = None
    if reason:
        results["ended_because"] = reason
    report.end_time = utcnow()
    report.status = "failed" if verdict == "failed" else "completed"
    if verdict != "failed" and report.device_id is not None:
        months = int(results["scenario"]["interval_months"])
        row = await due.record_test(session, report.device_id, report.id, report.end_time, months)
        results["next_due_at"] = row.next_due_at.isoformat()
    _save(report, results)
    await session.flush()
    await workshop.test_finished(session, report, actor.user_id)
    await reports.seal(session, report)
    audit_for(actor).record(
        session,
        "test.complete",
        details={
            "entity": "test_report",
            "id": report.id,
            "verdict": verdict,
            "status": report.status,
        },
    )
    TEST_VERDICTS.labels(verdict).inc()
    return report


async def complete_test(session: AsyncSession, actor: Principal, report: TestReport) -> TestReport:
    """Complete a test whose every step is recorded."""
    check_may_run(actor, report)
    if report.status != "in_progress":
        raise Conflict(f"Test {report.id} is already {report.status}")
    missing = [s["step_order"] for s in results_of(report)["steps"] if s["result"] is None]
    if missing:
        raise Conflict(f"Steps {', '.join(map(str, missing))} are not recorded yet")
    return await finish(session, actor, report)


async def abort_test(
    session: AsyncSession, actor: Principal, report: TestReport, reason: str
) -> TestReport:
    """Abort a running test, keeping the reason; no verdict and no due date. Any operator may
    abort any running test (one left behind by a colleague, say)."""
    if report.status != "in_progress":
        raise Conflict(f"Test {report.id} is already {report.status}")
    results = copy.deepcopy(results_of(report))
    results["verdict"] = None
    results["current_step"] = None
    results["abort"] = {"reason": reason, "by": actor.user_id, "at": utcnow().isoformat()}
    report.status = "aborted"
    report.end_time = utcnow()
    TEST_VERDICTS.labels("aborted").inc()
    _save(report, results)
    await session.flush()
    await reports.seal(session, report)
    audit_for(actor).record(
        session,
        "test.abort",
        details={"entity": "test_report", "id": report.id, "reason": reason},
    )
    return report


async def seal_report(
    session: AsyncSession, actor: Principal, report: TestReport
) -> tuple[TestReportSeal, bool]:
    """Seal a finished report that has no seal yet (one finished before sealing existed,
    imported or seeded); answers the seal and whether this call made it.

    Idempotent: a sealed report keeps its seal (never re-sealed, so a report changed after
    sealing still fails verification). The caller locks the report (``get_report(lock=True)``)
    so two requests do not seal it twice. Who may: the report's operator or any supervising
    role (``check_may_run``)."""
    check_may_run(actor, report)
    if report.status in ("in_progress", "pending"):
        raise Conflict("The test is still running; it is sealed when it ends")
    seal = await reports.seal_of(session, report.id)
    created = seal is None
    if seal is None:  # a finished report from before sealing (imported, seeded): seal it now
        seal = await reports.seal(session, report)
        audit_for(actor).record(
            session,
            "report.seal",
            details={"entity": "test_report", "id": report.id, "sha256": seal.sha256},
        )
    return seal, created


async def add_samples(
    session: AsyncSession, actor: Principal, report: TestReport, body: SamplesPost
) -> dict[str, Any]:
    """Append samples in the telemetry shape to the current automatic step of a test."""
    check_may_run(actor, report)
    info = await append_samples(
        session,
        report,
        [s.model_dump(exclude_none=True) for s in body.samples],
        step_order=body.step_order,
        device_id=body.device_id,
        source="operator",
    )
    await lifecycle.touch(session, report.id)
    return info


def start_bench(
    actor: Principal,
    report: TestReport,
    step_order: int,
    runner: BenchRunner,
    body: BenchStart,
) -> BenchRun:
    """Run the simulated bench for the current automatic step, streaming samples live (409
    when the step is not the current automatic one, has samples, or the bench runs)."""
    check_may_run(actor, report)
    if report.status != "in_progress":
        raise Conflict(f"Test {report.id} is {report.status}")
    state = current_step(report)
    if state is None or state["step_order"] != step_order:
        raise Conflict(f"Step {step_order} is not the current step")
    if not state["auto_test"]:
        raise Conflict(f"Step {step_order} is an operator step")
    if step_block(report, step_order):
        raise Conflict(f"Step {step_order} already has samples")
    existing = runner.get(report.id)
    if existing and existing.running:
        raise Conflict("The simulated bench is already running")
    flow_steps = flowlib.steps_of(results_of(report)["flow"])
    step = next(s for s in flow_steps if s["step_order"] == step_order)
    return runner.start(report.id, step, flow_steps, body.profile, body.speed, body.rate_hz)


async def attach_photo(
    session: AsyncSession,
    actor: Principal,
    report: TestReport,
    step_order: int,
    filename: str,
    content_type: str,
    data: bytes,
) -> TestStepAttachment:
    """Attach a photo to a recorded or current step of a running test."""
    check_may_run(actor, report)
    if report.status != "in_progress":
        raise Conflict(f"Test {report.id} is {report.status}; attachments are closed")
    steps = {s["step_order"]: s for s in results_of(report)["steps"]}
    current = results_of(report).get("current_step")
    if step_order not in steps or (steps[step_order]["result"] is None and step_order != current):
        raise Conflict(f"Step {step_order} is neither recorded nor current")
    if content_type not in PHOTO_TYPES:
        raise ValidationFailed(f"Photo must be one of {', '.join(sorted(PHOTO_TYPES))}")
    if not data or len(data) > MAX_PHOTO_BYTES:
        raise ValidationFailed(f"Photo must be 1 byte to {MAX_PHOTO_BYTES // 1024 // 1024} MB")
    magic = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG", "image/webp": b"RIFF"}
    if not data.startswith(magic[content_type]):
        raise ValidationFailed("Photo content does not match its type")
    attachment = TestStepAttachment(
        report_id=report.id,
        step_order=step_order,
        filename=filename[:255] or "photo",
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        uploaded_by=actor.user_id,
    )
    session.add(attachment)
    await session.flush()
    results = copy.deepcopy(results_of(report))
    for step in results["steps"]:
        if step["step_order"] == step_order:
            step.setdefault("attachments", []).append(
                {
                    "id": attachment.id,
                    "filename": attachment.filename,
                    "sha256": attachment.sha256,
                    "size": attachment.size,
                }
            )
    _save(report, results)
    await session.flush()
    await lifecycle.touch(session, report.id)
    audit_for(actor).record(
        session,
        "test.attachment",
        details={
            "entity": "test_report",
            "id": report.id,
            "step_order": step_order,
            "attachment_id": attachment.id,
        },
    )
    return attachment


def progress(report: TestReport) -> dict[str, Any]:
    """Answer the live state of a test: current step, counts, verdict."""
    results = results_of(report)
    steps = [s for s in results.get("steps") or [] if isinstance(s, dict)]
    done = sum(1 for s in steps if s.get("result") is not None)
    return {
        "id": report.id,
        "status": report.status,
        "current_step": results.get("current_step"),
        "steps_done": done,
        "steps_total": len(steps),
        "verdict": results.get("verdict"),
        "samples": {
            str(s.get("step_order")): sample_count(report, s.get("step_order", 0))
            for s in steps
            if s.get("auto_test")
        },
    }
