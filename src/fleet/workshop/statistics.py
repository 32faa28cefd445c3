"""Failure statistics over a period: tests, failures, failure rate, mean time between failures,
and the most replaced parts, grouped by device type, kind of device, step, part or customer.

Tests are counted from the test outcomes the workshop keeps for every finished test (written
when the test finishes), so the numbers come from one narrow table and no report JSON is read.
MTBF is the mean of the gaps between consecutive failed tests of the same item, taken over the
failures in the period that had an earlier failure; it is undefined (null) otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.models import (
    Customer,
    WorkshopPart,
    WorkshopPartUsage,
    WorkshopStepOutcome,
    WorkshopTestOutcome,
)
from fleet.workshop.schemas import GroupBy, Statistics, StatRow, TopPart

TOP_PARTS = 10


def _rate(tests: int, failures: int) -> float | None:
    return round(failures / tests, 4) if tests else None


def _mtbf(value: Any) -> float | None:
    return round(float(value), 2) if value is not None else None


async def _parts(
    session: AsyncSession, date_from: datetime, date_to: datetime, limit: int | None
) -> list[TopPart]:
    quantity = func.sum(WorkshopPartUsage.quantity)
    stmt = (
        select(
            WorkshopPart.id,
            WorkshopPart.part_number,
            WorkshopPart.name,
            quantity,
            func.count(func.distinct(WorkshopPartUsage.order_id)),
        )
        .join(WorkshopPart, WorkshopPart.id == WorkshopPartUsage.part_id)
        .where(WorkshopPartUsage.fitted_at >= date_from, WorkshopPartUsage.fitted_at < date_to)
        .group_by(WorkshopPart.id, WorkshopPart.part_number, WorkshopPart.name)
        .order_by(quantity.desc(), WorkshopPart.part_number)
    )
    if limit:
        stmt = stmt.limit(limit)
    return [
        TopPart(part_id=i, part_number=n, name=name, quantity=int(q), orders=int(o))
        for i, n, name, q, o in await session.execute(stmt)
    ]


async def statistics(
    session: AsyncSession, group_by: GroupBy, date_from: datetime, date_to: datetime
) -> Statistics:
    """Answer the statistics of the tests finished in [date_from, date_to)."""
    o = WorkshopTestOutcome
    period = (o.tested_at >= date_from, o.tested_at < date_to)
    failures = func.sum(cast(o.failed, Integer))
    tests_total, failures_total = (
        await session.execute(select(func.count(), failures).where(*period))
    ).one()
    tests_total, failures_total = int(tests_total or 0), int(failures_total or 0)
    rows: list[StatRow] = []
    if group_by in ("device_type", "kind_of_device", "customer"):
        column = {
            "device_type": o.device_type,
            "kind_of_device": o.kind_of_device,
            "customer": o.customer_id,
        }[group_by]
        mtbf = func.avg(o.gap_days)
        result = await session.execute(
            select(column, func.count(), failures, mtbf)
            .where(*period)
            .group_by(column)
            .order_by(column)
        )
        grouped = result.all()
        names: dict[Any, str] = {}
        if group_by == "customer":
            ids = [k for k, *_ in grouped if k is not None]
            names = dict(
                (
                    await session.execute(
                        select(Customer.id, Customer.name).where(Customer.id.in_(ids))
                    )
                ).all()
            )
        for key, tests, failed, gap in grouped:
            tests, failed = int(tests), int(failed or 0)
            label = names.get(key, str(key)) if group_by == "customer" else (key or "(none)")
            rows.append(
                StatRow(
                    key="" if key is None else str(key),
                    label="(no customer)" if key is None and group_by == "customer" else label,
                    tests=tests,
                    failures=failed,
                    failure_rate=_rate(tests, failed),
                    mtbf_days=_mtbf(gap),
                    parts_replaced=None,
                )
            )
    elif group_by == "step":
        s = WorkshopStepOutcome
        step_failures = func.sum(cast(s.failed, Integer))
        for name, tests, failed in await session.execute(
            select(s.step_name, func.count(), step_failures)
            .where(s.tested_at >= date_from, s.tested_at < date_to)
            .group_by(s.step_name)
            .order_by(step_failures.desc(), s.step_name)
        ):
            tests, failed = int(tests), int(failed or 0)
            rows.append(
                StatRow(
                    key=name,
                    label=name,
                    tests=tests,
                    failures=failed,
                    failure_rate=_rate(tests, failed),
                    mtbf_days=None,
                    parts_replaced=None,
                )
            )
    else:
        for part in await _parts(session, date_from, date_to, None):
            rows.append(
                StatRow(
                    key=part.part_number,
                    label=part.name,
                    tests=None,
                    failures=None,
                    failure_rate=None,
                    mtbf_days=None,
                    parts_replaced=part.quantity,
                )
            )
    return Statistics(
        group_by=group_by,
        date_from=date_from,
        date_to=date_to,
        tests=tests_total,
        failures=failures_total,
        failure_rate=_rate(tests_total, failures_total),
        rows=rows,
        top_parts=await _parts(session, date_from, date_to, TOP_PARTS),
    )
