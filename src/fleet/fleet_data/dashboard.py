"""Fleet dashboard: counts computed by SQL aggregates, a fixed number of queries."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.db import utcnow
from fleet.fleet_data.schemas import CountItem, Dashboard
from fleet.fleet_data.service import DUE_SOON_DAYS
from fleet.models import Customer, Device, DeviceDueDate, TestReport

TOP_CUSTOMERS = 10
RECENT_TEST_DAYS = 30


def _items(counter: Counter[str | None], none_label: str) -> list[CountItem]:
    return [
        CountItem(key=key, label=key if key is not None else none_label, count=n)
        for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    ]


async def dashboard(session: AsyncSession) -> Dashboard:
    """Answer totals by status, type and customer, due-date counts and recent test verdicts."""
    now = utcnow()
    soon = now + timedelta(days=DUE_SOON_DAYS)

    # One small GROUP BY per indexed column: index-only scans, no hashing of wide rows.
    by_status: Counter[str | None] = Counter()
    for status, n in await session.execute(
        select(Device.status, func.count()).group_by(Device.status)
    ):
        by_status[status] += n
    by_type: Counter[str | None] = Counter()
    for device_type, n in await session.execute(
        select(Device.device_type, func.count()).group_by(Device.device_type)
    ):
        by_type[device_type] += n
    without_customer = (
        await session.scalar(
            select(func.count()).select_from(Device).where(Device.customer_id.is_(None))
        )
        or 0
    )
    total_devices = sum(by_status.values())

    per_customer = (
        select(Device.customer_id, func.count().label("n"))
        .where(Device.customer_id.is_not(None))
        .group_by(Device.customer_id)
        .order_by(func.count().desc(), Device.customer_id)
        .limit(TOP_CUSTOMERS)
        .subquery()
    )
    top = await session.execute(
        select(per_customer.c.customer_id, Customer.name, per_customer.c.n)
        .join(Customer, Customer.id == per_customer.c.customer_id)
        .order_by(per_customer.c.n.desc(), per_customer.c.customer_id)
    )
    by_customer = [CountItem(key=str(cid), label=name, count=n) for cid, name, n in top]

    # Only rows due within 30 days are scanned (index range); totals come from cheap counts.
    due = (
        await session.execute(
            select(
                func.count().filter(DeviceDueDate.next_due_at < now),
                func.count().filter(DeviceDueDate.next_due_at >= now),
                select(func.count()).select_from(DeviceDueDate).scalar_subquery(),
                select(func.count()).select_from(Customer).scalar_subquery(),
            ).where(DeviceDueDate.next_due_at < soon)
        )
    ).one()
    overdue, due_soon, tested, total_customers = (int(v or 0) for v in due)

    # a test without a verdict counts by its status: aborted (abandoned too), in_progress
    verdict = func.coalesce(TestReport.results["verdict"].as_string(), TestReport.status)
    recent = await session.execute(
        select(verdict, func.count())
        .where(TestReport.start_time >= now - timedelta(days=RECENT_TEST_DAYS))
        .group_by(verdict)
    )
    by_verdict: Counter[str | None] = Counter()
    for value, n in recent:
        by_verdict[value] += n

    return Dashboard(
        generated_at=now,
        total_devices=total_devices,
        total_customers=total_customers,
        by_status=_items(by_status, "no status"),
        by_device_type=_items(by_type, "no type"),
        by_customer=by_customer,
        devices_without_customer=without_customer,
        overdue=overdue,
        due_next_30_days=due_soon,
        never_tested=max(0, total_devices - tested),
        tests_last_30_days=sum(by_verdict.values()),
        tests_by_verdict=_items(by_verdict, "no verdict"),
    )
