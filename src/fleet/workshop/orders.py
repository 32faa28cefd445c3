"""Repair orders: the state machine, parts used, and who may move an order where.

The transitions are one ordered table (``TRANSITIONS``): for each (from, to) the roles that may
make it and what the order must hold first. Managers plan and approve, operators execute.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import audit_for, changes
from fleet.auth.deps import Principal
from fleet.db import utcnow
from fleet.errors import Conflict, Forbidden, NotFound, ValidationFailed
from fleet.models import (
    Device,
    User,
    WorkshopComponentClock,
    WorkshopPart,
    WorkshopPartUsage,
    WorkshopRepairOrder,
    WorkshopStockLot,
)
from fleet.workshop import parts as parts_service
from fleet.workshop import records
from fleet.workshop.schemas import (
    OrderCreate,
    OrderRead,
    OrderState,
    OrderUpdate,
    PartUse,
    PartUseRead,
)

PLANNERS = frozenset({"manager", "superuser", "maker"})
EXECUTORS = frozenset({"operator", "manager", "superuser", "maker"})
ALL_STATES = ("proposed", "open", "in_progress", "done", "canceled")
EDITABLE = ("proposed", "open", "in_progress")
TAKES_PARTS = ("open", "in_progress")


@dataclass(frozen=True)
class Transition:
    roles: frozenset[str]
    stamp: str | None  # the time column set on the transition


TRANSITIONS: dict[tuple[str, str], Transition] = {
    ("proposed", "open"): Transition(PLANNERS, "opened_at"),
    ("proposed", "canceled"): Transition(PLANNERS, "finished_at"),
    ("open", "in_progress"): Transition(EXECUTORS, "started_at"),
    ("open", "canceled"): Transition(PLANNERS, "finished_at"),
    ("in_progress", "done"): Transition(EXECUTORS, "finished_at"),
    ("in_progress", "canceled"): Transition(PLANNERS, "finished_at"),
}


def query_orders(
    state: OrderState | None = None, device_id: int | None = None
) -> Select[WorkshopRepairOrder]:
    """Build the order list query, newest first."""
    stmt = select(WorkshopRepairOrder)
    if state:
        stmt = stmt.where(WorkshopRepairOrder.state == state)
    if device_id is not None:
        stmt = stmt.where(WorkshopRepairOrder.device_id == device_id)
    return stmt.order_by(WorkshopRepairOrder.id.desc())


async def get_order(
    session: AsyncSession, order_id: int, *, lock: bool = False
) -> WorkshopRepairOrder:
    """Load an order or raise 404 (``lock`` takes a row lock on PostgreSQL)."""
    stmt = select(WorkshopRepairOrder).where(WorkshopRepairOrder.id == order_id)
    if lock:
        stmt = stmt.with_for_update()
    order = await session.scalar(stmt)
    if order is None:
        raise NotFound("Repair order not found")
    return order


async def order_reads(
    session: AsyncSession, orders: Sequence[WorkshopRepairOrder]
) -> list[OrderRead]:
    """Answer orders with device, technician, parts and readiness, in a fixed number of queries."""
    if not orders:
        return []
    device_ids = {o.device_id for o in orders}
    devices = {
        d.id: d for d in await session.scalars(select(Device).where(Device.id.in_(device_ids)))
    }
    tech_ids = {o.technician_id for o in orders if o.technician_id}
    techs = dict(
        (await session.execute(select(User.id, User.username).where(User.id.in_(tech_ids)))).all()
        if tech_ids
        else []
    )
    used: dict[int, list[PartUseRead]] = defaultdict(list)
    for usage, part_number, part_name, lot_number in await session.execute(
        select(
            WorkshopPartUsage,
            WorkshopPart.part_number,
            WorkshopPart.name,
            WorkshopStockLot.lot_number,
        )
        .join(WorkshopPart, WorkshopPart.id == WorkshopPartUsage.part_id)
        .join(WorkshopStockLot, WorkshopStockLot.id == WorkshopPartUsage.lot_id)
        .where(WorkshopPartUsage.order_id.in_([o.id for o in orders]))
        .order_by(WorkshopPartUsage.id)
    ):
        used[usage.order_id].append(
            PartUseRead(
                id=usage.id,
                part_id=usage.part_id,
                part_number=part_number,
                part_name=part_name,
                lot_id=usage.lot_id,
                lot_number=lot_number,
                serial_number=usage.serial_number,
                quantity=usage.quantity,
                fitted_at=usage.fitted_at,
            )
        )
    ready = await records.readiness_of(session, list(device_ids))
    out = []
    for o in orders:
        device = devices[o.device_id]
        state = ready.get(o.device_id)
        out.append(
            OrderRead(
                id=o.id,
                device_id=o.device_id,
                device_number=device.device_number,
                customer_id=device.customer_id,
                state=o.state,
                origin=o.origin,
                trigger_report_id=o.trigger_report_id,
                release_report_id=o.release_report_id,
                failed_steps=list(o.failed_steps or []),
                findings=o.findings,
                work_done=o.work_done,
                technician_id=o.technician_id,
                technician=techs.get(o.technician_id) if o.technician_id else None,
                time_spent_minutes=o.time_spent_minutes,
                created_at=o.created_at,
                opened_at=o.opened_at,
                started_at=o.started_at,
                finished_at=o.finished_at,
                parts=used[o.id],
                readiness=state.readiness if state else None,
            )
        )
    return out


def _audit(
    session: AsyncSession, actor: Principal, action: str, order: WorkshopRepairOrder, **extra: Any
) -> None:
    audit_for(actor).record(
        session,
        f"workshop.order.{action}",
        details={"entity": "repair_order", "id": order.id, "device_id": order.device_id, **extra},
    )


async def _check_technician(session: AsyncSession, user_id: int | None) -> None:
    if user_id is not None and await session.get(User, user_id) is None:
        raise ValidationFailed("technician_id: no such user")


async def create_order(
    session: AsyncSession, actor: Principal, body: OrderCreate
) -> WorkshopRepairOrder:
    """Open a repair order by hand (planners only); an item has one pending order at a time."""
    if actor.active_role not in PLANNERS:
        raise Forbidden("Only a manager plans repair orders")
    device = await session.scalar(
        select(Device).where(Device.id == body.device_id).with_for_update()
    )
    if device is None:
        raise ValidationFailed("device_id: no such device")
    if device.status == "decommissioned":
        raise Conflict(f"Device {device.device_number} is decommissioned")
    await _check_technician(session, body.technician_id)
    pending = await session.scalar(
        select(WorkshopRepairOrder.id).where(
            WorkshopRepairOrder.device_id == device.id,
            WorkshopRepairOrder.state.in_(records.PENDING_STATES),
        )
    )
    if pending is not None:
        raise Conflict(f"Device {device.device_number} already has repair order {pending}")
    now = utcnow()
    order = WorkshopRepairOrder(
        device_id=device.id,
        state="open",
        origin="manual",
        findings=body.findings,
        technician_id=body.technician_id,
        created_by=actor.user_id,
        created_at=now,
        opened_at=now,
        failed_steps=[],
    )
    session.add(order)
    await session.flush()
    _audit(session, actor, "create", order, state="open")
    return order


def _fields(order: WorkshopRepairOrder) -> dict[str, Any]:
    return {
        "findings": order.findings,
        "work_done": order.work_done,
        "technician_id": order.technician_id,
        "time_spent_minutes": order.time_spent_minutes,
    }


async def update_order(
    session: AsyncSession, actor: Principal, order: WorkshopRepairOrder, body: OrderUpdate
) -> WorkshopRepairOrder:
    """Record findings, work done, technician and time on an unfinished order."""
    if order.state not in EDITABLE:
        raise Conflict(f"Repair order {order.id} is {order.state}; it takes no more changes")
    data = body.model_dump(exclude_unset=True)
    await _check_technician(session, data.get("technician_id"))
    before = _fields(order)
    for key, value in data.items():
        setattr(order, key, value)
    await session.flush()
    _audit(session, actor, "update", order, changed=changes(before, _fields(order)))
    return order


async def transition(
    session: AsyncSession, actor: Principal, order: WorkshopRepairOrder, target: str
) -> WorkshopRepairOrder:
    """Move an order to another state, if the table allows it for the actor's role."""
    rule = TRANSITIONS.get((order.state, target))
    if rule is None:
        raise Conflict(f"Repair order {order.id} cannot go from {order.state} to {target}")
    if actor.active_role not in rule.roles:
        raise Forbidden(f"Role '{actor.active_role}' cannot move an order to {target}")
    if target == "done" and not (order.work_done or "").strip():
        raise ValidationFailed("Record the work done before finishing the repair")
    if target == "canceled":
        used = await session.scalar(
            select(WorkshopPartUsage.id).where(WorkshopPartUsage.order_id == order.id).limit(1)
        )
        if used is not None:
            raise Conflict("Parts were used on this order: return them before canceling")
    if order.technician_id is None and target in ("in_progress", "done"):
        order.technician_id = actor.user_id
    before = order.state
    order.state = target
    if rule.stamp:
        setattr(order, rule.stamp, utcnow())
    await session.flush()
    _audit(session, actor, "transition", order, old=before, new=target)
    if target == "done":
        await records.refresh_due(session, [order.device_id])
    return order


async def use_part(
    session: AsyncSession, actor: Principal, order: WorkshopRepairOrder, body: PartUse
) -> WorkshopPartUsage:
    """Consume a part from a lot on an open order; a part with its own clock starts it."""
    if order.state not in TAKES_PARTS:
        raise Conflict(f"Repair order {order.id} is {order.state}; parts go on open orders")
    part = await session.get(WorkshopPart, body.part_id)
    if part is None:
        raise ValidationFailed("part_id: no such part")
    if not part.is_active:
        raise Conflict(f"Part {part.part_number} is no longer in use")
    device = await session.get(Device, order.device_id)
    assert device is not None
    fits = set(part.fits or [])
    if fits and not fits & {device.device_type, device.kind_of_device}:
        raise ValidationFailed(
            f"Part {part.part_number} fits {', '.join(sorted(fits))}, not "
            f"{device.kind_of_device or device.device_type}"
        )
    lot = await parts_service.take(session, part.id, body.lot_id, body.quantity)
    fitted = body.fitted_at or utcnow()
    usage = WorkshopPartUsage(
        order_id=order.id,
        part_id=part.id,
        lot_id=lot.id,
        serial_number=body.serial_number,
        quantity=body.quantity,
        fitted_at=fitted,
        created_by=actor.user_id,
    )
    session.add(usage)
    await session.flush()
    if part.component:
        await fit_component(session, device.id, part.component, fitted, part.id, usage.id)
    _audit(
        session,
        actor,
        "part_used",
        order,
        part_id=part.id,
        lot=lot.lot_number,
        quantity=body.quantity,
        serial_number=body.serial_number,
        stock_in_lot=lot.quantity,
    )
    await records.refresh_due(session, [device.id])
    return usage


async def fit_component(
    session: AsyncSession,
    device_id: int,
    component: str,
    fitted_on: Any,
    part_id: int | None = None,
    usage_id: int | None = None,
) -> WorkshopComponentClock:
    """Start a component's clock on an item, ending the clock of the one it replaces."""
    for old in await session.scalars(
        select(WorkshopComponentClock).where(
            WorkshopComponentClock.device_id == device_id,
            WorkshopComponentClock.component == component,
            WorkshopComponentClock.removed_at.is_(None),
        )
    ):
        old.removed_at = fitted_on
    clock = WorkshopComponentClock(
        device_id=device_id,
        component=component,
        fitted_on=fitted_on,
        part_id=part_id,
        usage_id=usage_id,
    )
    session.add(clock)
    await session.flush()
    return clock


async def remove_part(
    session: AsyncSession, actor: Principal, order: WorkshopRepairOrder, usage_id: int
) -> None:
    """Take a part line off an unfinished order; the parts go back to their lot."""
    if order.state not in TAKES_PARTS:
        raise Conflict(f"Repair order {order.id} is {order.state}; its parts are final")
    usage = await session.get(WorkshopPartUsage, usage_id)
    if usage is None or usage.order_id != order.id:
        raise NotFound("Part line not found on this order")
    await parts_service.put_back(session, usage.lot_id, usage.quantity)
    clocks = list(
        await session.scalars(
            select(WorkshopComponentClock).where(WorkshopComponentClock.usage_id == usage.id)
        )
    )
    for clock in clocks:
        # the clock it replaced runs again
        previous = await session.scalar(
            select(WorkshopComponentClock)
            .where(
                WorkshopComponentClock.device_id == clock.device_id,
                WorkshopComponentClock.component == clock.component,
                WorkshopComponentClock.id != clock.id,
                WorkshopComponentClock.removed_at == clock.fitted_on,
            )
            .order_by(WorkshopComponentClock.id.desc())
            .limit(1)
        )
        if previous is not None:
            previous.removed_at = None
        await session.delete(clock)
    await session.flush()
    await session.delete(usage)
    await session.flush()
    _audit(
        session,
        actor,
        "part_returned",
        order,
        part_id=usage.part_id,
        lot_id=usage.lot_id,
        quantity=usage.quantity,
    )
    await records.refresh_due(session, [order.device_id])
