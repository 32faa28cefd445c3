"""Test due dates: when a device was last tested and when its next test is due."""

from __future__ import annotations

import calendar
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from fleet.models import DeviceDueDate

DEFAULT_INTERVAL_MONTHS = 12


def add_months(moment: datetime, months: int) -> datetime:
    """Shift a time by whole calendar months, clamping the day (31 Jan + 1 month = 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


async def record_test(
    session: AsyncSession, device_id: int, report_id: int, tested_at: datetime, months: int
) -> DeviceDueDate:
    """Record a completed test of a device and set its next due date ``months`` later."""
    row = await session.get(DeviceDueDate, device_id)
    due = add_months(tested_at, months)
    if row is None:
        row = DeviceDueDate(
            device_id=device_id,
            last_test_at=tested_at,
            next_due_at=due,
            report_id=report_id,
            interval_months=months,
        )
        session.add(row)
    elif row.last_test_at <= tested_at:
        row.last_test_at, row.next_due_at = tested_at, due
        row.report_id, row.interval_months = report_id, months
    await session.flush()
    return row
