"""Failure statistics over a period: tests, failures, failure rate, mean time between failures,
and the most replaced parts, grouped by device type, kind of device, step, part or customer.

Tests are counted from daily totals per dimension (``workshop_stat_days``) that are added to
when a test finishes, so a year of statistics sums a few hundred rows per key, never the tests
themselves; the period is therefore whole UTC days. MTBF is the mean of the gaps between
consecutive failed tests of the same item, over the failures in the period that had an earlier
failure; it is undefined (null) otherwise.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.models import Customer, WorkshopPart, WorkshopPartUsage, WorkshopStatDay
from fleet.workshop.schemas import GroupBy, Statistics, StatRow, TopPart

TOP_PARTS = 10


def _rate(tests: int, failures: int) -> float | None:
    return round(failures / tests, 4) if tests else None


async def _parts(
    session: AsyncSession, first: date, last: date, limit: int | None
) -> list[TopPart]:
    date_from = datetime.combine(first, time(0), UTC)
    date_to = datetime.combine(last, time(0), UTC)
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


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def day_bounds(date_from: datetime, date_to: datetime) -> tuple[date, date]:
    """The period in whole UTC days: from the day of ``date_from`` up to the day of ``date_to``
    (that day included when ``date_to`` is past its midnight)."""
    first = date_from.astimezone(UTC).date()
    end = date_to.astimezone(UTC)
    last = end.date() + (timedelta(days=1) if end.time() != time(0) else timedelta(0))
    return first, last


async def statistics(
    session: AsyncSession, group_by: GroupBy, date_from: datetime, date_to: datetime
) -> Statistics:
    """Answer the statistics of the tests finished in the period (whole UTC days)."""
    first, last = day_bounds(date_from, date_to)
    d = WorkshopStatDay
    # whole months inside the period come from the monthly rows, the days around them from the
    # daily ones
    month_first = first if first.day == 1 else _next_month(first)
    month_last = last.replace(day=1)
    if month_first >= month_last:
        month_first = month_last = last
    covered = or_(
        and_(d.span == "m", d.day >= month_first, d.day < month_last),
        and_(
            d.span == "d",
            or_(
                and_(d.day >= first, d.day < month_first),
                and_(d.day >= month_last, d.day < last),
            ),
        ),
    )

    def grouped(dimension: str) -> Select[str, int, int, float, int]:
        return (
            select(
                d.key,
                func.sum(d.tests),
                func.sum(d.failures),
                func.sum(d.gap_sum),
                func.sum(d.gap_count),
            )
            .where(d.dimension == dimension, covered)
            .group_by(d.key)
        )

    tests_total = failures_total = 0
    for _key, tests, failed, _gaps, _n in await session.execute(grouped("device_type")):
        tests_total += int(tests)
        failures_total += int(failed)
    rows: list[StatRow] = []
    if group_by == "part":
        for part in await _parts(session, first, last, None):
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
    else:
        found = [
            (key, int(tests), int(failed), float(gaps), int(n))
            for key, tests, failed, gaps, n in await session.execute(grouped(group_by))
        ]
        names: dict[str, str] = {}
        if group_by == "customer":
            ids = [int(k) for k, *_ in found if k]
            names = {
                str(i): n
                for i, n in await session.execute(
                    select(Customer.id, Customer.name).where(Customer.id.in_(ids))
                )
            }
        if group_by == "step":
            found.sort(key=lambda r: (-r[2], r[0]))
        else:
            found.sort(key=lambda r: r[0])
        for key, tests, failed, gaps, n in found:
            if group_by == "customer":
                label = names.get(key, key) if key else "(no customer)"
            else:
                label = key or "(none)"
            rows.append(
                StatRow(
                    key=key,
                    label=label,
                    tests=tests,
                    failures=failed,
                    failure_rate=_rate(tests, failed),
                    mtbf_days=round(gaps / n, 2) if n and group_by != "step" else None,
                    parts_replaced=None,
                )
            )
    return Statistics(
        group_by=group_by,
        date_from=datetime.combine(first, time(0), UTC),
        date_to=datetime.combine(last, time(0), UTC),
        tests=tests_total,
        failures=failures_total,
        failure_rate=_rate(tests_total, failures_total),
        rows=rows,
        top_parts=await _parts(session, first, last, TOP_PARTS),
    )
