"""``/api/v1/workshop``: repair orders, parts and stock, interval rules, items, due list,
reminders, statistics.

The whole module needs an active role that reaches FWM (operator, manager, superuser, maker);
planning and approving (creating and canceling orders, the catalog, stock receipts, rules,
reminders) need a planner (manager, superuser, maker). Readiness is readable by every signed-in
user: it is shown on the FDM page and at the bench.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import func, select

from fleet import dialect
from fleet.audit import service as audit
from fleet.auth.deps import CurrentPrincipal, Principal, require_module
from fleet.db import utcnow
from fleet.deps import SessionDep
from fleet.errors import Forbidden, NotFound, ValidationFailed
from fleet.models import (
    Customer,
    WorkshopComponentClock,
    WorkshopDue,
    WorkshopItem,
    WorkshopRepairOrder,
)
from fleet.pagination import PageDep, paginate
from fleet.settings import Settings
from fleet.state import state_of
from fleet.workshop import due as due_service
from fleet.workshop import hooks, records, rules
from fleet.workshop import orders as orders_service
from fleet.workshop import parts as parts_service
from fleet.workshop import statistics as stats_service
from fleet.workshop.schemas import (
    ComponentFit,
    DueRead,
    GroupBy,
    ItemRead,
    ItemUpdate,
    OrderCreate,
    OrderRead,
    OrderState,
    OrderTransition,
    OrderUpdate,
    PartCreate,
    PartRead,
    PartUpdate,
    PartUse,
    ReadinessRead,
    ReceiptCreate,
    ReceiptRead,
    ReminderResult,
    ReminderSend,
    RuleBody,
    RuleRead,
    Statistics,
    UseCreate,
    WorkshopDashboard,
)

router = APIRouter(prefix="/workshop", tags=["workshop"])
MAX_ID = 2**31 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


async def _workshop(principal: Principal = Depends(require_module("FWM"))) -> Principal:
    return principal


async def _planner(principal: Principal = Depends(require_module("FWM"))) -> Principal:
    if principal.active_role not in orders_service.PLANNERS:
        raise Forbidden(f"Role '{principal.active_role}' cannot plan in the workshop")
    return principal


WorkshopDep = Annotated[Principal, Depends(_workshop)]
PlannerDep = Annotated[Principal, Depends(_planner)]


def _settings(request: Request) -> Settings:
    return state_of(request).settings


# ---------------------------------------------------------------- repair orders


@router.get("/repair-orders", response_model=list[OrderRead])
async def list_orders(
    _: WorkshopDep,
    session: SessionDep,
    page: PageDep,
    response: Response,
    state: OrderState | None = None,
    device_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[OrderRead]:
    """List repair orders, newest first, by state or device."""
    orders = await paginate(session, orders_service.query_orders(state, device_id), page, response)
    return await orders_service.order_reads(session, orders)


@router.post("/repair-orders", response_model=OrderRead, status_code=201)
async def create_order(body: OrderCreate, actor: PlannerDep, session: SessionDep) -> OrderRead:
    """Open a repair order by hand for an item (managers)."""
    order = await orders_service.create_order(session, actor, body)
    return (await orders_service.order_reads(session, [order]))[0]


@router.get("/repair-orders/{order_id}", response_model=OrderRead)
async def get_order(order_id: Id, _: WorkshopDep, session: SessionDep) -> OrderRead:
    """Return one repair order with its parts."""
    order = await orders_service.get_order(session, order_id)
    return (await orders_service.order_reads(session, [order]))[0]


@router.patch("/repair-orders/{order_id}", response_model=OrderRead)
async def update_order(
    order_id: Id, body: OrderUpdate, actor: WorkshopDep, session: SessionDep
) -> OrderRead:
    """Record findings, work done, technician and time spent."""
    order = await orders_service.get_order(session, order_id, lock=True)
    order = await orders_service.update_order(session, actor, order, body)
    return (await orders_service.order_reads(session, [order]))[0]


@router.post("/repair-orders/{order_id}/transition", response_model=OrderRead)
async def transition_order(
    order_id: Id, body: OrderTransition, actor: WorkshopDep, session: SessionDep
) -> OrderRead:
    """Move an order: approve (open), start (in_progress), finish (done) or cancel."""
    order = await orders_service.get_order(session, order_id, lock=True)
    order = await orders_service.transition(session, actor, order, body.state)
    return (await orders_service.order_reads(session, [order]))[0]


@router.post("/repair-orders/{order_id}/parts", response_model=OrderRead, status_code=201)
async def use_part(
    order_id: Id, body: PartUse, actor: WorkshopDep, session: SessionDep
) -> OrderRead:
    """Record a part used on the order, taken from a lot (409 when the lot holds too few)."""
    order = await orders_service.get_order(session, order_id, lock=True)
    await orders_service.use_part(session, actor, order, body)
    return (await orders_service.order_reads(session, [order]))[0]


@router.delete("/repair-orders/{order_id}/parts/{usage_id}", response_model=OrderRead)
async def remove_part(
    order_id: Id, usage_id: Id, actor: WorkshopDep, session: SessionDep
) -> OrderRead:
    """Take a part line off an unfinished order; the parts go back to their lot."""
    order = await orders_service.get_order(session, order_id, lock=True)
    await orders_service.remove_part(session, actor, order, usage_id)
    return (await orders_service.order_reads(session, [order]))[0]


# ---------------------------------------------------------------- parts and stock


@router.get("/parts", response_model=list[PartRead])
async def list_parts(
    _: WorkshopDep,
    session: SessionDep,
    page: PageDep,
    response: Response,
    q: Annotated[str | None, Query(max_length=100)] = None,
    is_active: bool | None = None,
    low_stock: bool | None = None,
) -> list[PartRead]:
    """List the parts catalog with stock per lot (``low_stock=true``: only those at or below
    their threshold)."""
    if low_stock:
        items = await parts_service.low_stock(session)
        response.headers["X-Total-Count"] = str(len(items))
        return items[page.skip : page.skip + page.limit]
    found = await paginate(session, parts_service.query_parts(q, is_active), page, response)
    return await parts_service.part_reads(session, found)


@router.post("/parts", response_model=PartRead, status_code=201)
async def create_part(body: PartCreate, actor: PlannerDep, session: SessionDep) -> PartRead:
    """Add a part to the catalog."""
    part = await parts_service.create_part(session, actor, body)
    return (await parts_service.part_reads(session, [part]))[0]


@router.get("/parts/{part_id}", response_model=PartRead)
async def get_part(part_id: Id, _: WorkshopDep, session: SessionDep) -> PartRead:
    """Return one part with its lots."""
    part = await parts_service.get_part(session, part_id)
    return (await parts_service.part_reads(session, [part]))[0]


@router.patch("/parts/{part_id}", response_model=PartRead)
async def update_part(
    part_id: Id, body: PartUpdate, actor: PlannerDep, session: SessionDep
) -> PartRead:
    """Change the given fields of a part."""
    part = await parts_service.get_part(session, part_id)
    part = await parts_service.update_part(session, actor, part, body)
    return (await parts_service.part_reads(session, [part]))[0]


@router.post("/parts/{part_id}/receipts", response_model=ReceiptRead, status_code=201)
async def receive(
    part_id: Id, body: ReceiptCreate, actor: PlannerDep, session: SessionDep
) -> ReceiptRead:
    """Receive goods into a lot of a part."""
    part = await parts_service.get_part(session, part_id)
    return await parts_service.receive(session, actor, part, body)


# ---------------------------------------------------------------- rules


@router.get("/interval-rules", response_model=list[RuleRead])
async def list_rules(
    _: WorkshopDep,
    session: SessionDep,
    page: PageDep,
    response: Response,
    device_type: Annotated[str | None, Query(max_length=100)] = None,
    kind_of_device: Annotated[str | None, Query(max_length=100)] = None,
) -> list[RuleRead]:
    """List the interval and life rules."""
    found = await paginate(session, rules.query_rules(device_type, kind_of_device), page, response)
    return [rules.to_read(r) for r in found]


@router.get("/interval-rules/schema")
async def rule_schema(_: WorkshopDep) -> dict[str, Any]:
    """Return the JSON Schema of a rule (for the tree editor)."""
    return rules.rule_schema()


@router.post("/interval-rules/check")
async def check_rule(body: dict[str, Any], _: WorkshopDep) -> dict[str, list[str]]:
    """Check a rule document against the rule's JSON Schema and rules; answers the problems."""
    return {"errors": rules.check(body)}


@router.post("/interval-rules", response_model=RuleRead, status_code=201)
async def create_rule(body: RuleBody, actor: PlannerDep, session: SessionDep) -> RuleRead:
    """Add a rule; the due dates of the items it is for are recomputed."""
    return rules.to_read(await rules.create_rule(session, actor, body))


@router.post("/interval-rules/seed")
async def seed_rules(actor: PlannerDep, session: SessionDep) -> dict[str, int]:
    """Add the documented rule set (each rule names its source); existing names are kept."""
    return {"added": await rules.seed_rule_set(session, actor)}


@router.get("/interval-rules/{rule_id}", response_model=RuleRead)
async def get_rule(rule_id: Id, _: WorkshopDep, session: SessionDep) -> RuleRead:
    """Return one rule."""
    return rules.to_read(await rules.get_rule(session, rule_id))


@router.put("/interval-rules/{rule_id}", response_model=RuleRead)
async def replace_rule(
    rule_id: Id, body: RuleBody, actor: PlannerDep, session: SessionDep
) -> RuleRead:
    """Replace a rule; due dates are recomputed."""
    rule = await rules.get_rule(session, rule_id)
    return rules.to_read(await rules.replace_rule(session, actor, rule, body))


@router.delete("/interval-rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: Id, actor: PlannerDep, session: SessionDep) -> Response:
    """Delete a rule; due dates are recomputed."""
    await rules.delete_rule(session, actor, await rules.get_rule(session, rule_id))
    return Response(status_code=204)


# ---------------------------------------------------------------- items and readiness


@router.get("/readiness", response_model=list[ReadinessRead])
async def readiness(
    _: CurrentPrincipal,
    session: SessionDep,
    device_ids: Annotated[str, Query(max_length=5000, description="Comma-separated ids")],
) -> list[ReadinessRead]:
    """Answer the derived readiness of up to 500 items."""
    try:
        ids = sorted({int(x) for x in device_ids.split(",") if x.strip()})
    except ValueError as exc:
        raise ValidationFailed("device_ids: comma-separated integers") from exc
    if len(ids) > 500 or any(i < 1 or i > MAX_ID for i in ids):
        raise ValidationFailed("device_ids: at most 500 ids between 1 and 2^31-1")
    states = await records.readiness_of(session, ids)
    return [
        ReadinessRead(
            device_id=i,
            readiness=s.readiness,
            blocked_reason=s.blocked_reason,
            reason=s.reason,
            reason_code=s.cause.code if s.cause else None,
            reason_params=s.cause.params if s.cause else None,
        )
        for i, s in states.items()
    ]


@router.get("/items/{device_id}", response_model=ItemRead)
async def get_item(device_id: Id, _: CurrentPrincipal, session: SessionDep) -> ItemRead:
    """Return an item's readiness, what falls due on it and its components, and its orders."""
    device = await rules.get_device(session, device_id)
    state = (await records.readiness_of(session, [device.id]))[device.id]
    item = await session.get(WorkshopItem, device.id)
    now = utcnow()
    rows = (
        await session.execute(
            due_service.due_query(36500, None, now).where(WorkshopDue.device_id == device.id)
        )
    ).all()
    clocks = await session.scalars(
        select(WorkshopComponentClock).where(
            WorkshopComponentClock.device_id == device.id,
            WorkshopComponentClock.removed_at.is_(None),
        )
    )
    orders = await session.scalars(
        select(WorkshopRepairOrder.id)
        .where(WorkshopRepairOrder.device_id == device.id)
        .order_by(WorkshopRepairOrder.id.desc())
    )
    return ItemRead(
        device_id=device.id,
        device_number=device.device_number,
        readiness=state.readiness,
        blocked_reason=state.blocked_reason,
        reason=state.reason,
        reason_code=state.cause.code if state.cause else None,
        reason_params=state.cause.params if state.cause else None,
        manufactured_on=item.manufactured_on if item else None,
        components={c.component: c.fitted_on for c in clocks},
        due=[due_service.to_read(r, now) for r in rows],
        orders=list(orders),
    )


@router.put("/items/{device_id}", response_model=ItemRead)
async def set_item(
    device_id: Id, body: ItemUpdate, actor: PlannerDep, session: SessionDep
) -> ItemRead:
    """Record an item's manufacture date (readiness itself is derived and cannot be set)."""
    device = await rules.get_device(session, device_id)
    await rules.set_item(session, actor, device, body)
    return await get_item(device_id, actor, session)


@router.post("/items/{device_id}/uses", response_model=ItemRead, status_code=201)
async def record_use(
    device_id: Id, body: UseCreate, actor: WorkshopDep, session: SessionDep
) -> ItemRead:
    """Record a use of an item (after-use tests fall due)."""
    device = await rules.get_device(session, device_id)
    await rules.record_use(session, actor, device, body)
    return await get_item(device_id, actor, session)


@router.post("/items/{device_id}/components", response_model=ItemRead, status_code=201)
async def fit_component(
    device_id: Id, body: ComponentFit, actor: PlannerDep, session: SessionDep
) -> ItemRead:
    """Record the documented fitting date of a component (starts its clock)."""
    device = await rules.get_device(session, device_id)
    await rules.fit(session, actor, device, body)
    return await get_item(device_id, actor, session)


# ---------------------------------------------------------------- due list and reminders


WithinDays = Annotated[int, Query(ge=0, le=3650)]
CustomerFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/due", response_model=list[DueRead])
async def list_due(
    _: WorkshopDep,
    session: SessionDep,
    page: PageDep,
    response: Response,
    within_days: WithinDays = 30,
    customer_id: CustomerFilter = None,
) -> list[DueRead]:
    """List the items and components falling due within ``within_days`` (overdue first)."""
    total, items = await due_service.list_due(
        session, within_days, customer_id, page.skip, page.limit
    )
    response.headers["X-Total-Count"] = str(total)
    return items


async def _customer_title(session: SessionDep, customer_id: int | None) -> str:
    if customer_id is None:
        return "Due list - all customers"
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Customer not found")
    return f"Due list - {customer.name}"


@router.get(
    "/due.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The due list as CSV"}},
)
async def due_csv(
    _: WorkshopDep,
    session: SessionDep,
    within_days: WithinDays = 30,
    customer_id: CustomerFilter = None,
) -> Response:
    """Download the due list as CSV (for one customer with ``customer_id``)."""
    await _customer_title(session, customer_id)
    _total, items = await due_service.list_due(session, within_days, customer_id)
    return Response(
        due_service.to_csv(items),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="due.csv"'},
    )


@router.get(
    "/due.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The due list as PDF"}},
)
async def due_pdf(
    _: WorkshopDep,
    session: SessionDep,
    within_days: WithinDays = 30,
    customer_id: CustomerFilter = None,
) -> Response:
    """Download the due list as a printable PDF (for one customer with ``customer_id``)."""
    title = await _customer_title(session, customer_id)
    _total, items = await due_service.list_due(session, within_days, customer_id)
    return Response(
        due_service.to_pdf(items, title, within_days),
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="due.pdf"'},
    )


@router.post("/due/recompute")
async def recompute(actor: PlannerDep, session: SessionDep) -> dict[str, int]:
    """Write the outcomes of tests that have none (older than the workshop, or imported) and
    recompute the due dates of every item (also after a change of device kinds)."""
    outcomes = await records.run_plan(session, hooks.backfill_plan(dialect.name_of(session)))
    items = await records.refresh_all(session)
    audit.audit_for(actor).record(
        session,
        "workshop.due.recompute",
        details={"entity": "workshop_due", "outcomes": outcomes, "items": items},
    )
    return {"outcomes": outcomes, "items": items}


@router.post("/reminders/send", response_model=ReminderResult)
async def send_reminders(
    body: ReminderSend, actor: PlannerDep, session: SessionDep, request: Request
) -> ReminderResult:
    """E-mail each customer contact a digest of what falls due that he was not told yet
    (``dry_run``: answer what would be sent, send nothing)."""
    if body.customer_id is not None:
        await _customer_title(session, body.customer_id)
    return await due_service.send_reminders(session, actor, _settings(request), body)


# ---------------------------------------------------------------- statistics and dashboard


@router.get("/statistics", response_model=Statistics)
async def statistics(
    _: WorkshopDep,
    session: SessionDep,
    group_by: GroupBy = "device_type",
    date_from: Annotated[datetime | None, Query(alias="from")] = None,
    date_to: Annotated[datetime | None, Query(alias="to")] = None,
) -> Statistics:
    """Tests, failures, failure rate, MTBF and most replaced parts in [from, to) (default: the
    last 365 days)."""
    end = date_to or utcnow()
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    start = date_from or end - timedelta(days=365)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if start >= end:
        raise ValidationFailed("from must be before to")
    return await stats_service.statistics(session, group_by, start, end)


@router.get("/dashboard", response_model=WorkshopDashboard)
async def dashboard(_: WorkshopDep, session: SessionDep) -> WorkshopDashboard:
    """Orders by state, low-stock parts and counts of what falls due (the dashboard cards)."""
    by_state = dict(
        (
            await session.execute(
                select(WorkshopRepairOrder.state, func.count()).group_by(WorkshopRepairOrder.state)
            )
        ).all()
    )
    due_soon, _soon = await due_service.list_due(session, 30, None, 0, 0)
    overdue, _over = await due_service.list_due(session, 0, None, 0, 0)
    return WorkshopDashboard(
        orders_by_state={s: int(by_state.get(s, 0)) for s in orders_service.ALL_STATES},
        low_stock_parts=await parts_service.low_stock(session),
        due_within_30_days=due_soon,
        overdue=overdue,
    )
