"""Reports: the list query, the seal (SHA-256 of canonical content), verification, CSV export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet import csvsafe
from fleet.models import Customer, TestReport, TestReportSeal, User
from fleet.runs.schemas import ReportSummary

MAX_COUNT = 1_000  # the list counts at most this many rows (X-Total-Count-Capped tells)
MAX_DEPTH = 10_000  # skip + limit beyond this: narrow the filters (from/to) instead

VERDICT = TestReport.results["verdict"].as_string()
SCENARIO_NAME = TestReport.results[("scenario", "name")].as_string()
DEVICE_NUMBER = TestReport.results[("device", "device_number")].as_string()
SUMMARY_COLUMNS = (
    TestReport.id,
    TestReport.test_scenario_id,
    TestReport.device_id,
    TestReport.operator_id,
    TestReport.customer_id,
    TestReport.start_time,
    TestReport.end_time,
    TestReport.status,
    VERDICT.label("verdict"),
    SCENARIO_NAME.label("scenario_name"),
    DEVICE_NUMBER.label("device_number"),
)


def _plain(value: Any) -> Any:
    """Normalise numbers so the content hashes the same after a JSON/JSONB round trip."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def canonical_content(report: TestReport) -> bytes:
    """Answer the bytes a report's seal covers: every column, sorted keys, compact JSON."""
    doc = {
        "id": report.id,
        "test_scenario_id": report.test_scenario_id,
        "device_id": report.device_id,
        "operator_id": report.operator_id,
        "customer_id": report.customer_id,
        "start_time": _iso(report.start_time),
        "end_time": _iso(report.end_time),
        "status": report.status,
        "results": _plain(report.results),
        "pressure_data": _plain(report.pressure_data),
    }
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def fingerprint(report: TestReport) -> str:
    """Answer the SHA-256 (hex) of a report's canonical content."""
    return hashlib.sha256(canonical_content(report)).hexdigest()


async def seal(session: AsyncSession, report: TestReport) -> TestReportSeal:
    """Record the fingerprint of a finished report."""
    row = TestReportSeal(report_id=report.id, sha256=fingerprint(report))
    session.add(row)
    await session.flush()
    return row


async def seal_of(session: AsyncSession, report_id: int) -> TestReportSeal | None:
    """Answer a report's seal, if it is finished."""
    return await session.get(TestReportSeal, report_id)


def query_reports(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    operator_id: int | None = None,
    device_id: int | None = None,
    customer_id: int | None = None,
    scenario_id: int | None = None,
    status: str | None = None,
    verdict: str | None = None,
    columns: tuple[Any, ...] = SUMMARY_COLUMNS,
) -> Select[Any]:
    """Build the filtered, newest-first report query (each filter has a (column, time) index)."""
    stmt = select(*columns)
    if since is not None:
        stmt = stmt.where(TestReport.start_time >= since)
    if until is not None:
        stmt = stmt.where(TestReport.start_time <= until)
    if operator_id is not None:
        stmt = stmt.where(TestReport.operator_id == operator_id)
    if device_id is not None:
        stmt = stmt.where(TestReport.device_id == device_id)
    if customer_id is not None:
        stmt = stmt.where(TestReport.customer_id == customer_id)
    if scenario_id is not None:
        stmt = stmt.where(TestReport.test_scenario_id == scenario_id)
    if status:
        stmt = stmt.where(TestReport.status == status)
    if verdict:
        stmt = stmt.where(VERDICT == verdict)
    return stmt.order_by(TestReport.start_time.desc(), TestReport.id.desc())


async def list_page(
    session: AsyncSession, stmt: Select[Any], skip: int, limit: int
) -> tuple[list[ReportSummary], int, bool]:
    """Answer one page, the total (counted up to MAX_COUNT) and whether the count was capped."""
    bounded = stmt.with_only_columns(TestReport.id).order_by(None).limit(MAX_COUNT + 1)
    total = int(await session.scalar(select(func.count()).select_from(bounded.subquery())) or 0)
    named = (
        stmt.add_columns(User.username.label("operator_name"), Customer.name.label("customer_name"))
        .outerjoin(User, User.id == TestReport.operator_id)
        .outerjoin(Customer, Customer.id == TestReport.customer_id)
    )
    rows = (await session.execute(named.offset(skip).limit(limit))).all()
    return [ReportSummary(**row._mapping) for row in rows], min(total, MAX_COUNT), total > MAX_COUNT


CSV_FIELDS = [
    "id",
    "start_time",
    "end_time",
    "status",
    "verdict",
    "scenario_id",
    "scenario_name",
    "device_id",
    "device_number",
    "operator_id",
    "customer_id",
    "sha256",
]


async def csv_stream(
    factory: async_sessionmaker[AsyncSession], stmt: Select[Any]
) -> AsyncIterator[str]:
    """Stream the filtered reports as CSV, a chunk of rows at a time, in its own session."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_FIELDS)
    yield buffer.getvalue()
    stmt = stmt.add_columns(TestReportSeal.sha256).outerjoin(
        TestReportSeal, TestReportSeal.report_id == TestReport.id
    )
    async with factory() as session:
        result = await session.stream(stmt.execution_options(yield_per=1000))
        async for chunk in result.partitions(1000):
            buffer.seek(0)
            buffer.truncate()
            for row in chunk:
                m = row._mapping
                writer.writerow(
                    [
                        csvsafe.cell(v)
                        for v in (
                            m["id"],
                            _iso(m["start_time"]),
                            _iso(m["end_time"]),
                            m["status"],
                            m["verdict"],
                            m["test_scenario_id"],
                            m["scenario_name"],
                            m["device_id"],
                            m["device_number"],
                            m["operator_id"],
                            m["customer_id"],
                            m["sha256"],
                        )
                    ]
                )
            yield buffer.getvalue()


def step_state(step: dict[str, Any]) -> dict[str, Any]:
    """The results entry of one step of a flow before it is run (the report's shape)."""
    return {
        "step_order": step["step_order"],
        "step_name": step["step_name"],
        "description": step.get("description"),
        "action": step["action"],
        "auto_test": bool(step.get("auto_test")),
        "required": step.get("required", True) is not False,
        "criteria": step.get("criteria"),
        "result": None,
        "evaluation": None,
        "notes": None,
        "measurements": None,
        "recorded_at": None,
        "recorded_by": None,
        "attachments": [],
    }
