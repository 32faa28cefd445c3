"""``/api/v1/tests`` (running a test at the bench) and ``/api/v1/reports`` (the records)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from fleet.auth.deps import Principal, require_module
from fleet.db import utcnow
from fleet.deps import SessionDep, SettingsDep
from fleet.errors import Conflict, Forbidden, ValidationFailed
from fleet.models import TestReport
from fleet.pagination import PageDep
from fleet.runs import bench, lifecycle, queries, report_views, reports, service
from fleet.runs.live import runner_for
from fleet.runs.schemas import (
    AbortBody,
    AttachmentRead,
    BenchStart,
    ReportRead,
    ReportSummary,
    RunningTest,
    SamplesPost,
    SealAnswer,
    StepAnswer,
    StepSubmit,
    TestStart,
    TestStateRead,
    VerifyAnswer,
)
from fleet.state import state_of

tests_router = APIRouter(prefix="/tests", tags=["tests"])
reports_router = APIRouter(prefix="/reports", tags=["reports"])
OperatorDep = Annotated[Principal, Depends(require_module("CPP"))]


async def _publish(request: Request, report: TestReport, event: str = "test.progress") -> None:
    await state_of(request).events.publish(f"test:{report.id}", event, service.progress(report))


async def _state(request: Request, session: SessionDep, report: TestReport) -> TestStateRead:
    run = runner_for(request.app).get(report.id)
    base = await report_views.read(session, report)
    return TestStateRead(
        **base.model_dump(),
        bench=run.as_dict() if run else None,
        bench_enabled=bench.enabled(state_of(request).settings),
    )


# ------------------------------------------------------------------ the operator's picker


@tests_router.get("/catalog")
async def catalog(_: OperatorDep, session: SessionDep) -> dict[str, Any]:
    """Kinds of device, their device types, and the active scenarios with their kind of test."""
    return await queries.catalog(session)


@tests_router.get("/devices")
async def find_devices(
    _: OperatorDep,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    device_type: Annotated[str | None, Query(max_length=100)] = None,
    kind_of_device: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> list[dict[str, Any]]:
    """Find devices to test by number or serial (a scanned QR/barcode matches exactly first)."""
    return await queries.find_devices(
        session,
        q=q,
        device_type=device_type,
        kind_of_device=kind_of_device,
        limit=limit,
        idle_minutes=settings.test_idle_timeout_minutes,
    )


# ------------------------------------------------------------------ running a test


@tests_router.get("/running", response_model=list[RunningTest])
async def running_tests(_: OperatorDep, session: SessionDep, settings: SettingsDep) -> Any:
    """The tests in progress on every device, so any operator can resume or abort one from any
    browser; a test idle past the timeout is left out (the idle sweep closes it as abandoned).
    A read: nothing is written."""
    return await lifecycle.running_tests(session, idle_minutes=settings.test_idle_timeout_minutes)


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
    run = runner_for(request.app).get(report.id)
    return report_views.samples_since(report, step_order, offset, run)


@tests_router.post("/{test_id}/samples")
async def post_samples(
    test_id: int, body: SamplesPost, actor: OperatorDep, session: SessionDep, request: Request
) -> dict[str, Any]:
    """Append samples in the telemetry shape to the current automatic step."""
    report = await service.get_report(session, test_id, lock=True)
    info = await service.add_samples(session, actor, report, body)
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
    run = service.start_bench(actor, report, step_order, runner_for(request.app), body)
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
    return await queries.report_names(session, actor, kind, q=q, limit=limit)


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
    return await report_views.verify(session, sha256.lower())


@reports_router.get("/{report_id}", response_model=ReportRead)
async def get_report(report_id: int, actor: OperatorDep, session: SessionDep) -> ReportRead:
    """Return one report with per-step results and its samples."""
    report = await service.get_report(session, report_id)
    service.check_may_read(actor, report)
    return await report_views.read(session, report)


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
    """Render the one-page protocol of a finished, sealed report in the user's language
    (``lang``, else the browser's Accept-Language, else English); 409 for a report still
    running, or finished before sealing existed and not sealed yet (``POST .../seal``)."""
    report = await service.get_report(session, report_id)
    service.check_may_read(actor, report)
    data, sha256 = await report_views.protocol(
        session, report, lang, request.headers.get("accept-language")
    )
    return Response(
        content=data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="report-{report.id}.pdf"',
            "X-Report-SHA256": sha256,
            "Cache-Control": "no-store",
        },
    )


@reports_router.post(
    "/{report_id}/seal",
    response_model=SealAnswer,
    status_code=201,
    responses={200: {"model": SealAnswer, "description": "The report was sealed already"}},
)
async def seal_report(
    report_id: int, actor: OperatorDep, session: SessionDep, response: Response
) -> SealAnswer:
    """Seal a finished report that has none (one finished before sealing existed): 201 with
    the new seal, audited as ``report.seal``; 200 with the existing seal when it is sealed
    already (nothing written). The report's operator or any supervising role may."""
    report = await service.get_report(session, report_id, lock=True)
    seal, created = await service.seal_report(session, actor, report)
    if not created:
        response.status_code = 200
    return SealAnswer(report_id=report.id, sha256=seal.sha256, sealed_at=seal.sealed_at)


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
    row = await report_views.attachment(session, report, attachment_id)
    return Response(
        content=row.data,
        media_type=row.content_type,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
