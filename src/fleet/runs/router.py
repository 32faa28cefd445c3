"""``/api/v1/tests`` (running a test at the bench) and ``/api/v1/reports`` (the records)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy import func, or_, select

from fleet.audit.service import record
from fleet.auth.deps import Principal, require_module
from fleet.config import translations
from fleet.db import utcnow
from fleet.deps import SessionDep, SettingsDep
from fleet.errors import Conflict, Forbidden, NotFound, ValidationFailed
from fleet.models import (
    Customer,
    Device,
    DeviceDueDate,
    TestReport,
    TestReportSeal,
    TestScenario,
    TestStepAttachment,
    User,
)
from fleet.pagination import PageDep
from fleet.runs import bench, lifecycle, pdf, reports, service
from fleet.runs.live import runner_for
from fleet.runs.samples import append_samples, current_step, step_block
from fleet.runs.schemas import (
    AbortBody,
    AttachmentRead,
    BenchStart,
    ReportRead,
    ReportSummary,
    RunningTest,
    SamplesPost,
    StepAnswer,
    StepSubmit,
    TestStart,
    TestStateRead,
    VerifyAnswer,
)
from fleet.scenarios import flow as flowlib
from fleet.search import LIKE_ESCAPE, escape_like, icontains
from fleet.state import state_of

tests_router = APIRouter(prefix="/tests", tags=["tests"])
reports_router = APIRouter(prefix="/reports", tags=["reports"])
OperatorDep = Annotated[Principal, Depends(require_module("CPP"))]


async def _publish(request: Request, report: TestReport, event: str = "test.progress") -> None:
    await state_of(request).events.publish(f"test:{report.id}", event, service.progress(report))


async def _read(session: SessionDep, report: TestReport) -> ReportRead:
    seal = await reports.seal_of(session, report.id)
    results = report.results or {}
    return ReportRead(
        id=report.id,
        test_scenario_id=report.test_scenario_id,
        device_id=report.device_id,
        operator_id=report.operator_id,
        customer_id=report.customer_id,
        start_time=report.start_time,
        end_time=report.end_time,
        status=report.status,
        verdict=results.get("verdict"),
        scenario_name=(results.get("scenario") or {}).get("name"),
        device_number=(results.get("device") or {}).get("device_number"),
        operator_name=(results.get("operator") or {}).get("username"),
        customer_name=(
            customer.name
            if report.customer_id and (customer := await session.get(Customer, report.customer_id))
            else None
        ),
        results=report.results,
        pressure_data=report.pressure_data,
        sha256=seal.sha256 if seal else None,
        sealed_at=seal.sealed_at if seal else None,
        progress=service.progress(report),
    )


async def _state(request: Request, session: SessionDep, report: TestReport) -> TestStateRead:
    run = runner_for(request.app).get(report.id)
    base = await _read(session, report)
    return TestStateRead(
        **base.model_dump(),
        bench=run.as_dict() if run else None,
        bench_enabled=bench.enabled(state_of(request).settings),
    )


# ------------------------------------------------------------------ the operator's picker


@tests_router.get("/catalog")
async def catalog(_: OperatorDep, session: SessionDep) -> dict[str, Any]:
    """Kinds of device, their device types, and the active scenarios with their kind of test."""
    pairs = (
        await session.execute(
            select(Device.kind_of_device, Device.device_type, func.count())
            .group_by(Device.kind_of_device, Device.device_type)
            .order_by(Device.kind_of_device, Device.device_type)
        )
    ).all()
    scenarios = (
        await session.scalars(
            select(TestScenario)
            .where(TestScenario.is_active.is_(True))
            .order_by(TestScenario.name)
            .limit(500)
        )
    ).all()
    out = []
    for s in scenarios:
        flow = flowlib.normalise(s.test_flow or {})
        flow = flow if isinstance(flow, dict) else {}
        out.append(
            {
                "id": s.id,
                "name": s.name,
                "description": s.description,
                "device_type": s.device_type,
                "kind_of_test": flow.get("kind_of_test"),
                "kind_of_device": flow.get("kind_of_device"),
                "step_count": len(flowlib.steps_of(flow)),
            }
        )
    return {
        "device_kinds": [
            {"kind_of_device": k, "device_type": t, "devices": n} for k, t, n in pairs
        ],
        "scenarios": out,
    }


@tests_router.get("/devices")
async def find_devices(
    _: OperatorDep,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    device_type: Annotated[str | None, Query(max_length=100)] = None,
    kind_of_device: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> list[dict[str, Any]]:
    """Find devices to test by number or serial (a scanned QR/barcode matches exactly first)."""
    stmt = (
        select(Device, Customer.name, DeviceDueDate.next_due_at, TestReport.id)
        .outerjoin(Customer, Customer.id == Device.customer_id)
        .outerjoin(DeviceDueDate, DeviceDueDate.device_id == Device.id)
        .outerjoin(
            TestReport, (TestReport.device_id == Device.id) & (TestReport.status == "in_progress")
        )
    )
    if device_type:
        stmt = stmt.where(Device.device_type == device_type)
    if kind_of_device:
        stmt = stmt.where(Device.kind_of_device == kind_of_device)
    if q:
        exact = q.strip()
        stmt = stmt.where(
            or_(icontains(Device.device_number, exact), icontains(Device.serial_number, exact))
        )
        stmt = stmt.order_by(
            (Device.device_number == exact).desc(), (Device.serial_number == exact).desc()
        )
    rows = (await session.execute(stmt.order_by(Device.device_number).limit(limit))).all()
    return [
        {
            "id": d.id,
            "device_number": d.device_number,
            "serial_number": d.serial_number,
            "device_type": d.device_type,
            "kind_of_device": d.kind_of_device,
            "status": d.status,
            "customer_id": d.customer_id,
            "customer_name": cname,
            "next_due_at": due_at,
            "running_test_id": running,
        }
        for d, cname, due_at, running in rows
    ]


# ------------------------------------------------------------------ running a test


@tests_router.get("/running", response_model=list[RunningTest])
async def running_tests(_: OperatorDep, session: SessionDep, settings: SettingsDep) -> Any:
    """The tests in progress on every device (idle ones are closed as abandoned first), so any
    operator can resume or abort one from any browser."""
    await lifecycle.sweep_idle(session, settings.test_idle_timeout_minutes)
    return await lifecycle.running_tests(session)


@tests_router.post("/start", response_model=TestStateRead, status_code=201)
async def start_test(
    body: TestStart,
    actor: OperatorDep,
    session: SessionDep,
    request: Request,
    settings: SettingsDep,
) -> TestStateRead:
    """Start a scenario on a device: a report ``in_progress`` (409 when the device is busy)."""
    report = await service.start_test(
        session, actor, body, idle_minutes=settings.test_idle_timeout_minutes
    )
    await _publish(request, report)
    return await _state(request, session, report)


@tests_router.get("/{test_id}", response_model=TestStateRead)
async def get_test(
    test_id: int, actor: OperatorDep, session: SessionDep, request: Request
) -> TestStateRead:
    """Return a test's live state: current step, per-step results, samples, bench run."""
    report = await service.get_report(session, test_id)
    service.check_may_read(actor, report)
    return await _state(request, session, report)


@tests_router.get("/{test_id}/samples")
async def get_samples(
    test_id: int,
    actor: OperatorDep,
    session: SessionDep,
    request: Request,
    step_order: Annotated[int, Query(ge=1)],
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Return one step's samples from ``offset`` on (the live chart polls this)."""
    report = await service.get_report(session, test_id)
    service.check_may_read(actor, report)
    block = step_block(report, step_order) or {}
    run = runner_for(request.app).get(report.id)
    ts = block.get("t") or []
    return {
        "step_order": step_order,
        "offset": offset,
        "next_offset": len(ts),
        **{k: (block.get(k) or [])[offset:] for k in ("t", *flowlib.SIGNALS)},
        "bench": run.as_dict() if run and run.step_order == step_order else None,
        "status": report.status,
    }


@tests_router.post("/{test_id}/samples")
async def post_samples(
    test_id: int, body: SamplesPost, actor: OperatorDep, session: SessionDep, request: Request
) -> dict[str, Any]:
    """Append samples in the telemetry shape to the current automatic step."""
    report = await service.get_report(session, test_id, lock=True)
    service.check_may_run(actor, report)
    info = await append_samples(
        session,
        report,
        [s.model_dump(exclude_none=True) for s in body.samples],
        step_order=body.step_order,
        device_id=body.device_id,
        source="operator",
    )
    await lifecycle.touch(session, report.id)
    await state_of(request).events.publish(
        f"test:{report.id}",
        "sensor.reading",
        {
            "test_id": report.id,
            "step_order": info["step_order"],
            "samples": info["samples"],
            "total": info["total"],
        },
    )
    return {k: info[k] for k in ("step_order", "appended", "total")}


@tests_router.post("/{test_id}/steps/{step_order}", response_model=StepAnswer)
async def submit_step(
    test_id: int,
    step_order: int,
    body: StepSubmit,
    actor: OperatorDep,
    session: SessionDep,
    request: Request,
    settings: SettingsDep,
) -> StepAnswer:
    """Record the current step: an operator result, or the evaluation of its samples."""
    report = await service.get_report(session, test_id, lock=True)
    run = runner_for(request.app).get(report.id)
    if run and run.running:
        raise Conflict("The simulated bench is still running this step")
    state = await service.submit_step(
        session, actor, report, step_order, body, bench_enabled=bench.enabled(settings)
    )
    await _publish(request, report)
    return StepAnswer(step=state, progress=service.progress(report))


@tests_router.post("/{test_id}/steps/{step_order}/bench")
async def start_bench(
    test_id: int,
    step_order: int,
    body: BenchStart,
    actor: OperatorDep,
    session: SessionDep,
    request: Request,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Run the simulated bench for the current automatic step, streaming samples live."""
    if not bench.enabled(settings):
        raise Conflict("The simulated bench is disabled on this server")
    report = await service.get_report(session, test_id, lock=True)
    service.check_may_run(actor, report)
    if report.status != "in_progress":
        raise Conflict(f"Test {report.id} is {report.status}")
    state = current_step(report)
    if state is None or state["step_order"] != step_order:
        raise Conflict(f"Step {step_order} is not the current step")
    if not state["auto_test"]:
        raise Conflict(f"Step {step_order} is an operator step")
    if step_block(report, step_order):
        raise Conflict(f"Step {step_order} already has samples")
    runner = runner_for(request.app)
    existing = runner.get(report.id)
    if existing and existing.running:
        raise Conflict("The simulated bench is already running")
    flow_steps = flowlib.steps_of(service.results_of(report)["flow"])
    step = next(s for s in flow_steps if s["step_order"] == step_order)
    run = runner.start(report.id, step, flow_steps, body.profile, body.speed, body.rate_hz)
    return run.as_dict()


@tests_router.post(
    "/{test_id}/steps/{step_order}/photo", response_model=AttachmentRead, status_code=201
)
async def attach_photo(
    test_id: int,
    step_order: int,
    actor: OperatorDep,
    session: SessionDep,
    photo: Annotated[UploadFile, File()],
    notes: Annotated[str | None, Form(max_length=1000)] = None,
) -> AttachmentRead:
    """Attach a photo (JPEG/PNG/WebP, ≤ 5 MB) to the current or a recorded step."""
    report = await service.get_report(session, test_id, lock=True)
    data = await photo.read(service.MAX_PHOTO_BYTES + 1)
    attachment = await service.attach_photo(
        session,
        actor,
        report,
        step_order,
        photo.filename or "photo",
        photo.content_type or "",
        data,
    )
    attachment.notes = notes
    return AttachmentRead.model_validate(attachment)


@tests_router.post("/{test_id}/resume", response_model=TestStateRead)
async def resume_test(
    test_id: int, actor: OperatorDep, session: SessionDep, request: Request
) -> TestStateRead:
    """Resume a running test from this browser; another operator's test is taken over."""
    report = await service.get_report(session, test_id, lock=True)
    await lifecycle.resume(session, actor, report)
    await _publish(request, report)
    return await _state(request, session, report)


@tests_router.post("/{test_id}/complete", response_model=TestStateRead)
async def complete_test(
    test_id: int, actor: OperatorDep, session: SessionDep, request: Request
) -> TestStateRead:
    """Complete a test: verdict, end time, seal, and the device's next due date."""
    report = await service.get_report(session, test_id, lock=True)
    await service.complete_test(session, actor, report)
    await _publish(request, report)
    return await _state(request, session, report)


@tests_router.post("/{test_id}/abort", response_model=TestStateRead)
async def abort_test(
    test_id: int, body: AbortBody, actor: OperatorDep, session: SessionDep, request: Request
) -> TestStateRead:
    """Abort a running test, keeping the reason."""
    report = await service.get_report(session, test_id, lock=True)
    await service.abort_test(session, actor, report, body.reason)
    await runner_for(request.app).stop(report.id)
    await _publish(request, report)
    return await _state(request, session, report)


# ------------------------------------------------------------------ reports


def _operator_scope(actor: Principal, operator_id: int | None) -> int | None:
    if actor.active_role != "operator":
        return operator_id
    if operator_id is not None and operator_id != actor.user_id:
        raise Forbidden("Operators see their own reports only")
    return actor.user_id


ReportFilters = dict[str, Any]


async def _filters(
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    operator_id: Annotated[int | None, Query(ge=1)] = None,
    device_id: Annotated[int | None, Query(ge=1)] = None,
    customer_id: Annotated[int | None, Query(ge=1)] = None,
    scenario_id: Annotated[int | None, Query(ge=1)] = None,
    status: Annotated[
        Literal["in_progress", "completed", "failed", "aborted", "pending"] | None, Query()
    ] = None,
    verdict: Annotated[Literal["passed", "warning", "failed"] | None, Query()] = None,
) -> ReportFilters:
    return {
        "since": from_,
        "until": to,
        "operator_id": operator_id,
        "device_id": device_id,
        "customer_id": customer_id,
        "scenario_id": scenario_id,
        "status": status,
        "verdict": verdict,
    }


FiltersDep = Annotated[ReportFilters, Depends(_filters)]


@reports_router.get("", response_model=list[ReportSummary])
async def list_reports(
    actor: OperatorDep,
    session: SessionDep,
    page: PageDep,
    response: Response,
    filters: FiltersDep,
) -> list[ReportSummary]:
    """List reports newest first (operators see their own); the count stops at 1 000
    (``X-Total-Count-Capped: true``) and pages reach 10 000 reports deep."""
    filters["operator_id"] = _operator_scope(actor, filters["operator_id"])
    if page.skip + page.limit > reports.MAX_DEPTH:
        raise ValidationFailed(
            f"Lists go {reports.MAX_DEPTH} reports deep; narrow them with from/to instead"
        )
    items, total, capped = await reports.list_page(
        session, reports.query_reports(**filters), page.skip, page.limit
    )
    response.headers["X-Total-Count"] = str(total)
    if capped:
        response.headers["X-Total-Count-Capped"] = "true"
    return items


@reports_router.get("/names/{kind}")
async def report_names(
    kind: Literal["operators", "customers"],
    actor: OperatorDep,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[dict[str, Any]]:
    """Names for the report filters' pickers: operators (an operator sees only himself) and
    customers, matched by the start of any word of the name."""
    column = User.username if kind == "operators" else Customer.name
    model = User if kind == "operators" else Customer
    stmt = select(model.id, column).order_by(column).limit(limit)
    if q and q.strip():
        needle = escape_like(q.strip().lower())
        stmt = stmt.where(
            or_(
                func.lower(column).like(f"{needle}%", escape=LIKE_ESCAPE),
                func.lower(column).like(f"% {needle}%", escape=LIKE_ESCAPE),
            )
        )
    if kind == "operators" and actor.active_role == "operator":
        stmt = stmt.where(User.id == actor.user_id)
    rows = (await session.execute(stmt)).all()
    return [{"id": row[0], "name": row[1]} for row in rows]


@reports_router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The reports as CSV"}},
)
async def export_reports(
    actor: OperatorDep,
    request: Request,
    filters: FiltersDep,
    format: Literal["csv"] = "csv",
) -> StreamingResponse:
    """Export the filtered reports as CSV, streamed."""
    filters["operator_id"] = _operator_scope(actor, filters["operator_id"])
    stmt = reports.query_reports(**filters)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        reports.csv_stream(state_of(request).sessionmaker, stmt),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="reports-{stamp}.{format}"'},
    )


@reports_router.get("/verify", response_model=VerifyAnswer)
async def verify_report(
    _: OperatorDep,
    session: SessionDep,
    sha256: Annotated[str, Query(pattern=r"^[0-9a-fA-F]{64}$")],
) -> VerifyAnswer:
    """Check a printed report's SHA-256 against the database (404: no report has it)."""
    digest = sha256.lower()
    seal = await session.scalar(
        select(TestReportSeal).where(TestReportSeal.sha256 == digest).limit(1)
    )
    if seal is None:
        raise NotFound("No report has this SHA-256")
    report = await service.get_report(session, seal.report_id)
    valid = reports.fingerprint(report) == digest
    results = report.results or {}
    return VerifyAnswer(
        valid=valid,
        report_id=report.id,
        sealed_at=seal.sealed_at,
        status=report.status,
        device_number=(results.get("device") or {}).get("device_number"),
        scenario_name=(results.get("scenario") or {}).get("name"),
        start_time=report.start_time,
        end_time=report.end_time,
        detail="the report in the database matches this fingerprint"
        if valid
        else "the report was changed after it was sealed",
    )


@reports_router.get("/{report_id}", response_model=ReportRead)
async def get_report(report_id: int, actor: OperatorDep, session: SessionDep) -> ReportRead:
    """Return one report with per-step results and its samples."""
    report = await service.get_report(session, report_id)
    service.check_may_read(actor, report)
    return await _read(session, report)


@reports_router.get(
    "/{report_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def report_pdf(
    report_id: int,
    actor: OperatorDep,
    session: SessionDep,
    request: Request,
    lang: Annotated[str | None, Query(max_length=10, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = None,
) -> Response:
    """Render the one-page protocol of a finished report in the user's language (``lang``,
    else the browser's Accept-Language, else English)."""
    report = await service.get_report(session, report_id)
    service.check_may_read(actor, report)
    if report.status in ("in_progress", "pending"):
        raise Conflict("The test is still running; its protocol exists once it has ended")
    seal = await reports.seal_of(session, report.id)
    if seal is None:  # a finished report from before sealing (imported, seeded): seal it now
        seal = await reports.seal(session, report)
        record(
            session,
            "report.seal",
            user_id=actor.user_id,
            ip_address=actor.ip,
            details={"entity": "test_report", "id": report.id, "sha256": seal.sha256},
        )
    device = await session.get(Device, report.device_id) if report.device_id else None
    customer = await session.get(Customer, report.customer_id) if report.customer_id else None
    operator = await session.get(User, report.operator_id) if report.operator_id else None
    results = service.results_of(report)
    due = await _due_of(session, report, results)
    language = await _language(session, lang, request.headers.get("accept-language"))
    scenario = (
        await session.get(TestScenario, report.test_scenario_id)
        if report.test_scenario_id
        else None
    )
    data = pdf.render(
        {
            "report": {
                "id": report.id,
                "status": report.status,
                "start_time": report.start_time,
                "end_time": report.end_time,
                "results": report.results,
                "pressure_data": report.pressure_data,
            },
            "customer": customer.name if customer else None,
            "device": (
                f"{device.device_number} ({device.device_type}"
                + (f", s/n {device.serial_number}" if device.serial_number else "")
                + ")"
            )
            if device
            else None,
            "operator": operator.username if operator else None,
            "scenario": scenario.name if scenario else None,
            "sha256": seal.sha256,
            "due": due,
            "printed_at": utcnow(),
            "language": language,
            "texts": await translations.bundle(session, language),
        }
    )
    return Response(
        content=data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="report-{report.id}.pdf"',
            "X-Report-SHA256": seal.sha256,
            "Cache-Control": "no-store",
        },
    )


async def _language(session: SessionDep, lang: str | None, accept: str | None) -> str:
    """The protocol's language: the asked one, else the first known of Accept-Language."""
    known = set(await translations.languages(session))
    wanted = [lang] if lang else []
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code:
            wanted.append(code)
    return next((code for code in wanted if code in known), translations.FALLBACK)


async def _due_of(
    session: SessionDep, report: TestReport, results: dict[str, Any]
) -> dict[str, Any]:
    """Why the protocol prints the next due date it prints (or none)."""
    kind_of_test = (results.get("scenario") or {}).get("kind_of_test")
    if report.status == "aborted":
        return {"kind": "aborted"}
    if report.status == "failed" or results.get("verdict") == "failed":
        return {"kind": "failed"}
    if report.device_id is None:
        return {"kind": "no_device"}
    months = (results.get("scenario") or {}).get("interval_months")
    if results.get("next_due_at"):
        return {
            "kind": "set",
            "at": results["next_due_at"],
            "months": months,
            "kind_of_test": kind_of_test,
        }
    row = await session.get(DeviceDueDate, report.device_id)
    if row is None:
        return {"kind": "unknown"}
    if row.report_id == report.id:
        return {
            "kind": "set",
            "at": row.next_due_at,
            "months": row.interval_months,
            "kind_of_test": kind_of_test,
        }
    return {"kind": "superseded", "at": row.next_due_at, "report_id": row.report_id}


@reports_router.get(
    "/{report_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}},
)
async def get_attachment(
    report_id: int, attachment_id: int, actor: OperatorDep, session: SessionDep
) -> Response:
    """Download a step photo."""
    report = await service.get_report(session, report_id)
    service.check_may_read(actor, report)
    row = await session.get(TestStepAttachment, attachment_id)
    if row is None or row.report_id != report.id:
        raise NotFound("Attachment not found")
    return Response(
        content=row.data,
        media_type=row.content_type,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
