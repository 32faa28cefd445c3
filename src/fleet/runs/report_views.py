"""What the report pages read, assembled without writing: one report with its seal, a step's
samples for the live chart, the verification of a printed checksum, the data of the one-page
protocol (PDF) and a step photo.

Nothing here adds, changes or deletes a row: sealing is a write of its own (on completion, or
``POST /reports/{id}/seal`` for a report finished before sealing existed)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.config import translations
from fleet.db import utcnow
from fleet.errors import Conflict, NotFound
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
from fleet.runs import pdf, reports, service
from fleet.runs.live import BenchRun
from fleet.runs.samples import step_block
from fleet.runs.schemas import ReportRead, VerifyAnswer
from fleet.scenarios import flow as flowlib

FINISHED = ("completed", "failed", "aborted")


async def read(session: AsyncSession, report: TestReport) -> ReportRead:
    """One report with its per-step results, samples, seal (if any) and progress."""
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


def samples_since(
    report: TestReport, step_order: int, offset: int, run: BenchRun | None
) -> dict[str, Any]:
    """One step's samples from ``offset`` on, and the bench run if it runs this step."""
    block = step_block(report, step_order) or {}
    ts = block.get("t") or []
    return {
        "step_order": step_order,
        "offset": offset,
        "next_offset": len(ts),
        **{k: (block.get(k) or [])[offset:] for k in ("t", *flowlib.SIGNALS)},
        "bench": run.as_dict() if run and run.step_order == step_order else None,
        "status": report.status,
    }


async def verify(session: AsyncSession, digest: str) -> VerifyAnswer:
    """Check a printed report's SHA-256 against the database (404: no report has it)."""
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


async def protocol(
    session: AsyncSession, report: TestReport, lang: str | None, accept_language: str | None
) -> tuple[bytes, str]:
    """Render the one-page protocol of a finished, sealed report in the asked language (else
    the first known of Accept-Language, else English); answers the PDF and its seal's SHA-256.

    A finished report without a seal (one from before sealing existed) is not printed: 409,
    until someone seals it (``POST /reports/{id}/seal``)."""
    if report.status in ("in_progress", "pending"):
        raise Conflict("The test is still running; its protocol exists once it has ended")
    seal = await reports.seal_of(session, report.id)
    if seal is None:
        raise Conflict(
            f"Report {report.id} is not sealed yet; seal it first "
            f"(POST /api/v1/reports/{report.id}/seal), then print it"
        )
    device = await session.get(Device, report.device_id) if report.device_id else None
    customer = await session.get(Customer, report.customer_id) if report.customer_id else None
    operator = await session.get(User, report.operator_id) if report.operator_id else None
    results = service.results_of(report)
    due = await _due_of(session, report, results)
    language = await _language(session, lang, accept_language)
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
    return data, seal.sha256


async def _language(session: AsyncSession, lang: str | None, accept: str | None) -> str:
    """The protocol's language: the asked one, else the first known of Accept-Language."""
    known = set(await translations.languages(session))
    wanted = [lang] if lang else []
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code:
            wanted.append(code)
    return next((code for code in wanted if code in known), translations.FALLBACK)


async def _due_of(
    session: AsyncSession, report: TestReport, results: dict[str, Any]
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


async def attachment(
    session: AsyncSession, report: TestReport, attachment_id: int
) -> TestStepAttachment:
    """One step photo of this report (404 when it belongs to none or another report)."""
    row = await session.get(TestStepAttachment, attachment_id)
    if row is None or row.report_id != report.id:
        raise NotFound("Attachment not found")
    return row
