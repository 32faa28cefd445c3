"""Read-only queries behind the operator's picker and the report filters: the catalog of
device kinds and scenarios, finding a device to test, and the names for the filter pickers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.auth.deps import Principal
from fleet.db import utcnow
from fleet.models import Customer, Device, DeviceDueDate, TestReport, TestScenario, User
from fleet.runs.lifecycle import last_activity_column
from fleet.scenarios import flow as flowlib
from fleet.search import LIKE_ESCAPE, escape_like, icontains


async def catalog(session: AsyncSession) -> dict[str, Any]:
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


async def find_devices(
    session: AsyncSession,
    *,
    q: str | None,
    device_type: str | None,
    kind_of_device: str | None,
    limit: int,
    idle_minutes: int,
) -> list[dict[str, Any]]:
    """Devices to test by number or serial (a scanned QR/barcode matches exactly first), with
    their customer, next due date and running test (one idle past ``idle_minutes`` does not
    count: starting a test closes it as abandoned first)."""
    active = last_activity_column() >= utcnow() - timedelta(minutes=idle_minutes)
    stmt = (
        select(Device, Customer.name, DeviceDueDate.next_due_at, TestReport.id)
        .outerjoin(Customer, Customer.id == Device.customer_id)
        .outerjoin(DeviceDueDate, DeviceDueDate.device_id == Device.id)
        .outerjoin(
            TestReport,
            (TestReport.device_id == Device.id) & (TestReport.status == "in_progress") & active,
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


async def report_names(
    session: AsyncSession,
    actor: Principal,
    kind: Literal["operators", "customers"],
    *,
    q: str | None,
    limit: int,
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
