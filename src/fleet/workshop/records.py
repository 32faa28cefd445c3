"""One home for the queries that feed the engine: an item's facts, the stored due dates and the
readiness of a set of items, each answered in a fixed number of queries for any number of items."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.db import utcnow
from fleet.models import (
    Device,
    WorkshopComponentClock,
    WorkshopDue,
    WorkshopIntervalRule,
    WorkshopItem,
    WorkshopRepairOrder,
    WorkshopTestOutcome,
    WorkshopUse,
)
from fleet.workshop import engine

ACTIVE_STATES = ("open", "in_progress")
PENDING_STATES = ("proposed", "open", "in_progress")
CHUNK = 500


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


async def active_rules(session: AsyncSession) -> list[engine.Rule]:
    """Answer every active rule."""
    rows = await session.scalars(
        select(WorkshopIntervalRule)
        .where(WorkshopIntervalRule.is_active.is_(True))
        .order_by(WorkshopIntervalRule.id)
    )
    return [to_rule(r) for r in rows]


async def item_facts(
    session: AsyncSession, device_ids: Sequence[int]
) -> dict[int, engine.ItemFacts]:
    """Load the engine's facts for a set of items, one query per kind of record."""
    ids = list(device_ids)
    facts: dict[int, engine.ItemFacts] = {}
    for device_id, device_type, kind, created in await session.execute(
        select(Device.id, Device.device_type, Device.kind_of_device, Device.created_at).where(
            Device.id.in_(ids)
        )
    ):
        facts[device_id] = engine.ItemFacts(
            device_type=device_type, kind_of_device=kind, registered_at=created or utcnow()
        )
    for device_id, made in await session.execute(
        select(WorkshopItem.device_id, WorkshopItem.manufactured_on).where(
            WorkshopItem.device_id.in_(ids)
        )
    ):
        facts[device_id].manufactured_on = made
    for device_id, used_at in await session.execute(
        select(WorkshopUse.device_id, WorkshopUse.used_at).where(WorkshopUse.device_id.in_(ids))
    ):
        facts[device_id].uses.append(used_at)
    for device_id, kind_of_test, tested_at in await session.execute(
        select(
            WorkshopTestOutcome.device_id,
            WorkshopTestOutcome.kind_of_test,
            func.max(WorkshopTestOutcome.tested_at),
        )
        .where(WorkshopTestOutcome.device_id.in_(ids), WorkshopTestOutcome.failed.is_(False))
        .group_by(WorkshopTestOutcome.device_id, WorkshopTestOutcome.kind_of_test)
    ):
        if kind_of_test:
            facts[device_id].last_passed[kind_of_test] = tested_at
    for device_id, finished in await session.execute(
        select(WorkshopRepairOrder.device_id, WorkshopRepairOrder.finished_at).where(
            WorkshopRepairOrder.device_id.in_(ids),
            WorkshopRepairOrder.state == "done",
            WorkshopRepairOrder.finished_at.is_not(None),
        )
    ):
        if finished is not None:
            facts[device_id].repairs_done.append(finished)
    for device_id, component, fitted in await session.execute(
        select(
            WorkshopComponentClock.device_id,
            WorkshopComponentClock.component,
            WorkshopComponentClock.fitted_on,
        ).where(
            WorkshopComponentClock.device_id.in_(ids), WorkshopComponentClock.removed_at.is_(None)
        )
    ):
        current = facts[device_id].components.get(component)
        if current is None or fitted > current:
            facts[device_id].components[component] = fitted
    return facts


async def refresh_due(
    session: AsyncSession, device_ids: Iterable[int], rules: list[engine.Rule] | None = None
) -> None:
    """Recompute and store what falls due on these items (after a test, use, repair, swap)."""
    ids = sorted(set(device_ids))
    if not ids:
        return
    rules = rules if rules is not None else await active_rules(session)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        facts = await item_facts(session, chunk)
        await session.execute(delete(WorkshopDue).where(WorkshopDue.device_id.in_(chunk)))
        rows: list[dict[str, Any]] = [
            {
                "device_id": device_id,
                "component": e.component,
                "kind_of_test": e.kind_of_test,
                "due_at": e.due_at,
                "effect": e.effect,
                "rule_id": e.rule_id,
                "reason": e.reason,
            }
            for device_id, f in facts.items()
            for e in engine.compute_due(rules, f)
        ]
        if rows:
            await session.execute(insert(WorkshopDue), rows)
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
    due: dict[int, list[tuple[datetime, str, str]]] = defaultdict(list)
    for device_id, due_at, effect, reason in await session.execute(
        select(
            WorkshopDue.device_id, WorkshopDue.due_at, WorkshopDue.effect, WorkshopDue.reason
        ).where(WorkshopDue.device_id.in_(ids), WorkshopDue.due_at <= now)
    ):
        due[device_id].append((due_at, effect, reason))
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
