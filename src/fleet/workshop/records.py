"""One home for the queries that feed the engine: an item's facts, the stored due dates and the
readiness of a set of items, each answered in a fixed number of queries for any number of items."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Generator, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Executable, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from fleet.db import utcnow
from fleet.models import (
    Device,
    WorkshopComponentClock,
    WorkshopDue,
    WorkshopIntervalRule,
    WorkshopItem,
    WorkshopPart,
    WorkshopRepairOrder,
    WorkshopTestOutcome,
    WorkshopUse,
)
from fleet.workshop import engine, reasons

ACTIVE_STATES = ("open", "in_progress")
PENDING_STATES = ("proposed", "open", "in_progress")
CHUNK = 500
T = TypeVar("T")


def to_rule(row: WorkshopIntervalRule) -> engine.Rule:
    """Turn a rule row into the engine's value."""
    return engine.Rule(
        id=row.id,
        name=row.name,
        device_type=row.device_type,
        kind_of_device=row.kind_of_device,
        component=row.component,
        kind_of_test=row.kind_of_test,
        interval_months=row.interval_months,
        after_each_use=row.after_each_use,
        tests_accepted=tuple(row.tests_accepted or ()),
        trigger=row.trigger,
        life_limit_months=row.life_limit_months,
        source=row.source,
        source_text=row.source_text,
    )


# The queries that feed the engine are written once, as plans: generators that yield a
# statement (with its parameters) and receive its rows. The service drives them on its async
# session, the demo seeder on a plain one.
Step = tuple[Executable, list[dict[str, Any]] | None]
Plan = Generator[Step, list[Any], T]


def _rows(stmt: Executable, result: Any) -> list[Any]:
    return [] if getattr(stmt, "is_dml", False) else list(result.all())


async def run_plan(session: AsyncSession, plan: Plan[T]) -> T:
    """Drive a plan on an async session."""
    try:
        stmt, params = next(plan)
        while True:
            result = await session.execute(stmt, params) if params else await session.execute(stmt)
            stmt, params = plan.send(_rows(stmt, result))
    except StopIteration as stop:
        value: T = stop.value
        return value


def run_plan_sync(session: Session, plan: Plan[T]) -> T:
    """Drive a plan on a plain session (the demo seeder)."""
    try:
        stmt, params = next(plan)
        while True:
            result = session.execute(stmt, params) if params else session.execute(stmt)
            stmt, params = plan.send(_rows(stmt, result))
    except StopIteration as stop:
        value: T = stop.value
        return value


def rules_plan() -> Plan[list[engine.Rule]]:
    """Every active rule."""
    rows = yield (
        select(WorkshopIntervalRule)
        .where(WorkshopIntervalRule.is_active.is_(True))
        .order_by(WorkshopIntervalRule.id),
        None,
    )
    return [to_rule(r[0]) for r in rows]


async def active_rules(session: AsyncSession) -> list[engine.Rule]:
    """Answer every active rule."""
    return await run_plan(session, rules_plan())


def facts_plan(device_ids: Sequence[int]) -> Plan[dict[int, engine.ItemFacts]]:
    """The engine's facts for a set of items, one query per kind of record."""
    ids = list(device_ids)
    facts: dict[int, engine.ItemFacts] = {}
    rows = yield (
        select(
            Device.id, Device.device_type, Device.kind_of_device, Device.created_at, Device.status
        ).where(Device.id.in_(ids)),
        None,
    )
    for device_id, device_type, kind, created, status in rows:
        facts[device_id] = engine.ItemFacts(
            device_type=device_type,
            kind_of_device=kind,
            registered_at=created or utcnow(),
            status=status,
        )
    rows = yield (
        select(WorkshopItem.device_id, WorkshopItem.manufactured_on).where(
            WorkshopItem.device_id.in_(ids)
        ),
        None,
    )
    for device_id, made in rows:
        facts[device_id].manufactured_on = made
    rows = yield (
        select(WorkshopUse.device_id, WorkshopUse.used_at).where(WorkshopUse.device_id.in_(ids)),
        None,
    )
    for device_id, used_at in rows:
        facts[device_id].uses.append(used_at)
    rows = yield (
        select(
            WorkshopTestOutcome.device_id,
            WorkshopTestOutcome.kind_of_test,
            func.max(WorkshopTestOutcome.tested_at),
        )
        .where(WorkshopTestOutcome.device_id.in_(ids), WorkshopTestOutcome.failed.is_(False))
        .group_by(WorkshopTestOutcome.device_id, WorkshopTestOutcome.kind_of_test),
        None,
    )
    for device_id, kind_of_test, tested_at in rows:
        if kind_of_test:
            facts[device_id].last_passed[kind_of_test] = tested_at
    rows = yield (
        select(WorkshopRepairOrder.device_id, WorkshopRepairOrder.finished_at).where(
            WorkshopRepairOrder.device_id.in_(ids),
            WorkshopRepairOrder.state == "done",
            WorkshopRepairOrder.finished_at.is_not(None),
        ),
        None,
    )
    for device_id, finished in rows:
        facts[device_id].repairs_done.append(finished)
    rows = yield (
        select(
            WorkshopComponentClock.device_id,
            WorkshopComponentClock.component,
            WorkshopComponentClock.fitted_on,
            WorkshopPart.life_months,
            WorkshopPart.part_number,
        )
        .outerjoin(WorkshopPart, WorkshopPart.id == WorkshopComponentClock.part_id)
        .where(
            WorkshopComponentClock.device_id.in_(ids), WorkshopComponentClock.removed_at.is_(None)
        ),
        None,
    )
    for device_id, component, fitted, life, part_number in rows:
        item = facts[device_id]
        current = item.components.get(component)
        if current is None or fitted > current:
            item.components[component] = fitted
            item.part_life.pop(component, None)
            if life:
                item.part_life[component] = (life, part_number)
    return facts


async def item_facts(
    session: AsyncSession, device_ids: Sequence[int]
) -> dict[int, engine.ItemFacts]:
    """Load the engine's facts for a set of items."""
    return await run_plan(session, facts_plan(device_ids))


def refresh_plan(device_ids: Iterable[int]) -> Plan[None]:
    """Recompute and store what falls due on a set of items."""
    ids = sorted(set(device_ids))
    if not ids:
        return None
    rules = yield from rules_plan()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        facts = yield from facts_plan(chunk)
        yield delete(WorkshopDue).where(WorkshopDue.device_id.in_(chunk)), None
        rows: list[dict[str, Any]] = [
            {
                "device_id": device_id,
                "component": e.component,
                "kind_of_test": e.kind_of_test,
                "due_at": e.due_at,
                "effect": e.effect,
                "rule_id": e.rule_id,
                "reason": e.cause.dump(),
            }
            for device_id, f in facts.items()
            if f.status != "decommissioned"  # out of service: nothing falls due any more
            for e in engine.compute_due(rules, f)
        ]
        if rows:
            yield insert(WorkshopDue), rows
    return None


async def refresh_due(session: AsyncSession, device_ids: Iterable[int]) -> None:
    """Recompute and store what falls due on these items (after a test, use, repair, swap)."""
    await session.flush()
    await run_plan(session, refresh_plan(device_ids))
    await session.flush()


async def refresh_all(session: AsyncSession) -> int:
    """Recompute the due dates of every item (after a rule changed); answers how many items."""
    ids = list(await session.scalars(select(Device.id)))
    await refresh_due(session, ids)
    return len(ids)


async def readiness_of(
    session: AsyncSession, device_ids: Sequence[int], now: datetime | None = None
) -> dict[int, engine.Readiness]:
    """Derive the readiness of a set of items from their records, in a fixed number of queries."""
    now = now or utcnow()
    ids = list(device_ids)
    out: dict[int, engine.Readiness] = {}
    if not ids:
        return out
    status = dict(
        (await session.execute(select(Device.id, Device.status).where(Device.id.in_(ids)))).all()
    )
    active: dict[int, int] = {}
    done: dict[int, tuple[int, datetime]] = {}
    for order_id, device_id, state, finished in await session.execute(
        select(
            WorkshopRepairOrder.id,
            WorkshopRepairOrder.device_id,
            WorkshopRepairOrder.state,
            WorkshopRepairOrder.finished_at,
        )
        .where(
            WorkshopRepairOrder.device_id.in_(ids),
            WorkshopRepairOrder.state.in_((*ACTIVE_STATES, "done")),
        )
        .order_by(WorkshopRepairOrder.id)
    ):
        if state in ACTIVE_STATES:
            active.setdefault(device_id, order_id)
        elif finished is not None and (device_id not in done or finished >= done[device_id][1]):
            done[device_id] = (order_id, finished)
    newest = (
        select(
            WorkshopTestOutcome.device_id,
            func.max(WorkshopTestOutcome.tested_at).label("at"),
        )
        .where(WorkshopTestOutcome.device_id.in_(ids))
        .group_by(WorkshopTestOutcome.device_id)
        .subquery()
    )
    last: dict[int, engine.LastTest] = {}
    for device_id, report_id, tested_at, failed in await session.execute(
        select(
            WorkshopTestOutcome.device_id,
            WorkshopTestOutcome.report_id,
            WorkshopTestOutcome.tested_at,
            WorkshopTestOutcome.failed,
        )
        .join(
            newest,
            (newest.c.device_id == WorkshopTestOutcome.device_id)
            & (newest.c.at == WorkshopTestOutcome.tested_at),
        )
        .order_by(WorkshopTestOutcome.report_id)
    ):
        last[device_id] = engine.LastTest(report_id, tested_at, failed)
    passed = dict(
        (
            await session.execute(
                select(WorkshopTestOutcome.device_id, func.max(WorkshopTestOutcome.tested_at))
                .where(
                    WorkshopTestOutcome.device_id.in_(ids), WorkshopTestOutcome.failed.is_(False)
                )
                .group_by(WorkshopTestOutcome.device_id)
            )
        ).all()
    )
    due: dict[int, list[tuple[datetime, str, reasons.Reason]]] = defaultdict(list)
    for device_id, due_at, effect, reason in await session.execute(
        select(
            WorkshopDue.device_id, WorkshopDue.due_at, WorkshopDue.effect, WorkshopDue.reason
        ).where(WorkshopDue.device_id.in_(ids), WorkshopDue.due_at <= now)
    ):
        due[device_id].append((due_at, effect, reasons.load(reason)))
    for device_id in ids:
        if device_id not in status:
            continue
        order = done.get(device_id)
        out[device_id] = engine.readiness(
            status=status[device_id],
            repairs=engine.RepairState(
                active_order_id=active.get(device_id),
                last_done_order_id=order[0] if order else None,
                last_done_at=order[1] if order else None,
            ),
            last_test=last.get(device_id),
            last_passed_at=passed.get(device_id),
            due=due.get(device_id, []),
            now=now,
        )
    return out
