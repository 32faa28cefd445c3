"""Fleet dashboard: counts computed by SQL aggregates, in one statement."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from fleet.db import UTCDateTime, utcnow
from fleet.fleet_data import cache
from fleet.fleet_data.devices import DUE_SOON_DAYS
from fleet.fleet_data.schemas import CountItem, Dashboard
from fleet.memo import Memo
from fleet.models import CacheGeneration, Customer, Device, DeviceDueDate, TestReport

TOP_CUSTOMERS = 10
RECENT_TEST_DAYS = 30


def _items(counter: Counter[str | None], none_label: str) -> list[CountItem]:
    return [
        CountItem(key=key, label=key if key is not None else none_label, count=n)
        for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    ]


STATIC_TAGS = frozenset({"device", "customer", "tested", "customers"})
GENERATION = "generation"  # the row that carries the dashboard cache's generation


class _Statements(NamedTuple):
    full: Any  # every part and the cache generation
    clocked: Any  # the parts that depend on the clock, and the cache generation


@lru_cache(maxsize=1)
def _statements() -> _Statements:
    """The dashboard's statements, built once (their SQL compiled once); the clock's bounds
    are parameters (``now``, ``soon``, ``since``)."""
    none = null()
    now, soon = bindparam("now", type_=UTCDateTime), bindparam("soon", type_=UTCDateTime)

    def part(tag: str, key: Any, customer: Any, label: Any, n: Any) -> Any:
        return [
            literal(tag).label("tag"),
            cast(key, String).label("key"),
            cast(customer, Integer).label("customer_id"),
            cast(label, String).label("label"),
            n.label("n"),
        ]

    without_customer = case((Device.customer_id.is_(None), 1), else_=0)
    devices = select(
        *part("device", Device.status, without_customer, Device.device_type, func.count())
    ).group_by(Device.status, Device.device_type, without_customer)
    per_customer = (
        select(Device.customer_id, func.count().label("n"))
        .where(Device.customer_id.is_not(None))
        .group_by(Device.customer_id)
        .order_by(func.count().desc(), Device.customer_id)
        .limit(TOP_CUSTOMERS)
        .subquery()
    )
    top = select(
        *part("customer", none, per_customer.c.customer_id, Customer.name, per_customer.c.n)
    ).join(Customer, Customer.id == per_customer.c.customer_id)
    # Only rows due within 30 days are scanned (index range); totals come from cheap counts.
    overdue = select(*part("overdue", none, none, none, func.count())).where(
        DeviceDueDate.next_due_at < now
    )
    due_soon = select(*part("due_soon", none, none, none, func.count())).where(
        DeviceDueDate.next_due_at >= now, DeviceDueDate.next_due_at < soon
    )
    tested = select(*part("tested", none, none, none, func.count())).select_from(DeviceDueDate)
    customers = select(*part("customers", none, none, none, func.count())).select_from(Customer)
    # a test without a verdict counts by its status: aborted (abandoned too), in_progress
    verdict = func.coalesce(TestReport.results["verdict"].as_string(), TestReport.status)
    verdicts = (
        select(*part("verdict", verdict, none, none, func.count()))
        .where(TestReport.start_time >= bindparam("since", type_=UTCDateTime))
        .group_by(verdict)
    )
    # The cache generation read by the same statement: the counts are the ones it labels.
    generation = select(*part(GENERATION, none, none, none, CacheGeneration.value)).where(
        CacheGeneration.name == cache.NAME
    )
    return _Statements(
        full=union_all(devices, top, overdue, due_soon, tested, customers, verdicts, generation),
        clocked=union_all(overdue, due_soon, verdicts, generation),
    )


async def dashboard(
    conn: AsyncConnection | AsyncSession, memo: Memo[list[Any]] | None = None
) -> tuple[Dashboard, int]:
    """Answer totals by status, type and customer, due-date counts and recent test verdicts,
    and the dashboard cache's generation they were computed under (``fleet_data.cache``).

    One statement, one round trip: the parts are tagged rows of one ``UNION ALL``. The devices
    are read once for status, type and "without customer" together (a few dozen groups).
    The parts that depend only on devices, due dates and customers (not on the clock) may come
    from ``memo``, which forgets them at once when any of those tables changes: the answer is
    the one a full recomputation gives.
    """
    now = utcnow()
    params = {
        "now": now,
        "soon": now + timedelta(days=DUE_SOON_DAYS),
        "since": now - timedelta(days=RECENT_TEST_DAYS),
    }
    statements = _statements()
    static = memo.get("dashboard") if memo is not None else None
    if static is not None:
        rows = [*static, *(await conn.execute(statements.clocked, params))]
    else:
        epoch = memo.epoch if memo is not None else 0
        rows = list(await conn.execute(statements.full, params))
        if memo is not None:
            memo.put("dashboard", [tuple(r) for r in rows if r[0] in STATIC_TAGS], epoch)

    by_status: Counter[str | None] = Counter()
    by_type: Counter[str | None] = Counter()
    by_verdict: Counter[str | None] = Counter()
    top_rows: list[tuple[int, int, str]] = []
    totals: Counter[str] = Counter()
    without = 0
    generation = 0  # no change recorded yet
    for tag, key, customer_id, label, n in rows:
        if tag == "device":
            by_status[key] += n
            by_type[label] += n
            without += n if customer_id else 0
        elif tag == "customer":
            top_rows.append((-n, customer_id, label))
        elif tag == "verdict":
            by_verdict[key] += n
        elif tag == GENERATION:
            generation = int(n)
        else:
            totals[tag] += n
    top_rows.sort(key=lambda r: (r[0], r[1]))
    by_customer = [CountItem(key=str(cid), label=name, count=-n) for n, cid, name in top_rows]
    total_devices = sum(by_status.values())

    answer = Dashboard(
        generated_at=now,
        total_devices=total_devices,
        total_customers=totals["customers"],
        by_status=_items(by_status, "no status"),
        by_device_type=_items(by_type, "no type"),
        by_customer=by_customer,
        devices_without_customer=without,
        overdue=totals["overdue"],
        due_next_30_days=totals["due_soon"],
        never_tested=max(0, total_devices - totals["tested"]),
        tests_last_30_days=sum(by_verdict.values()),
        tests_by_verdict=_items(by_verdict, "no verdict"),
    )
    return answer, generation
