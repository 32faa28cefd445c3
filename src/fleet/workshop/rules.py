"""Interval and life rules as data, the documented rule set seeded from public tables, and the
items' own records (manufacture date, uses, fitted components) that the rules count from."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import audit_for, changes
from fleet.auth.deps import Principal
from fleet.db import utcnow
from fleet.errors import NotFound
from fleet.models import Device, WorkshopIntervalRule, WorkshopItem, WorkshopUse
from fleet.workshop import records
from fleet.workshop.orders import fit_component
from fleet.workshop.schemas import ComponentFit, ItemUpdate, RuleBody, RuleRead, UseCreate

VFDB = (
    "vfdb-Richtlinie 0804 / DGUV Regel 112-190 (maintenance table as in DGUV Information 205-010)"
)

# The documented rule set. Each entry names its source; where a public table gives a range
# (e.g. half-yearly, or 2 years when stored air-tight) the stricter figure is seeded.
RULE_SET: list[dict[str, Any]] = [
    {
        "name": "Full-face mask: leak and function test after each use",
        "kind_of_device": "full_face_mask",
        "kind_of_test": "after_use",
        "tests_accepted": ["yearly", "half_yearly"],
        "after_each_use": True,
        "trigger": "use",
        "source": "regulation",
        "source_text": f"{VFDB}: visual, function and leak test after use",
    },
    {
        "name": "Full-face mask: half-yearly leak and function test",
        "kind_of_device": "full_face_mask",
        "kind_of_test": "half_yearly",
        "tests_accepted": ["yearly", "after_use"],
        "interval_months": 6,
        "trigger": "manufacture",
        "source": "regulation",
        "source_text": (
            f"{VFDB}: half-yearly; 2 years only for masks stored air-tight and not carried "
            "on vehicles"
        ),
    },
    {
        "name": "Full-face mask: exhalation valve disc",
        "kind_of_device": "full_face_mask",
        "component": "exhalation_valve_disc",
        "kind_of_test": "replacement",
        "interval_months": 48,
        "trigger": "fitting",
        "source": "regulation",
        "source_text": f"{VFDB} (BGI/GUV-I 8674 table): change the exhalation valve disc, 4 years",
    },
    {
        "name": "Full-face mask: speech diaphragm",
        "kind_of_device": "full_face_mask",
        "component": "speech_diaphragm",
        "kind_of_test": "replacement",
        "interval_months": 72,
        "trigger": "fitting",
        "source": "regulation",
        "source_text": f"{VFDB}: change the speech diaphragm, 6 years",
    },
    {
        "name": "Full-face mask: parts at most 10 years from manufacture",
        "kind_of_device": "full_face_mask",
        "kind_of_test": "end_of_life",
        "life_limit_months": 120,
        "trigger": "manufacture",
        "source": "manufacturer",
        "source_text": "Manufacturer's manual: mask parts no older than 10 years from manufacture",
    },
    {
        "name": "Lung-demand valve: leak and function test after each use",
        "kind_of_device": "lung_demand_valve",
        "kind_of_test": "after_use",
        "tests_accepted": ["half_yearly", "yearly"],
        "after_each_use": True,
        "trigger": "use",
        "source": "regulation",
        "source_text": f"{VFDB}: lung-demand valve visual, leak and function test after use",
    },
    {
        "name": "Lung-demand valve: half-yearly leak and function test",
        "kind_of_device": "lung_demand_valve",
        "kind_of_test": "half_yearly",
        "tests_accepted": ["after_use", "yearly"],
        "interval_months": 6,
        "trigger": "manufacture",
        "source": "regulation",
        "source_text": f"{VFDB}: lung-demand valve test half-yearly",
    },
    {
        "name": "Lung-demand valve: membrane",
        "kind_of_device": "lung_demand_valve",
        "component": "ldv_membrane",
        "kind_of_test": "replacement",
        "interval_months": 72,
        "trigger": "fitting",
        "source": "regulation",
        "source_text": f"{VFDB}: change the lung-demand valve membrane every 6 years (was 4)",
    },
    {
        "name": "Lung-demand valve: overhaul",
        "kind_of_device": "lung_demand_valve",
        "kind_of_test": "overhaul",
        "interval_months": 72,
        "trigger": "manufacture",
        "source": "regulation",
        "source_text": f"{VFDB}: lung-demand valve with hose, overhaul every 6 years",
    },
    {
        "name": "SCBA: leak and function test after each use",
        "kind_of_device": "scba_set",
        "kind_of_test": "after_use",
        "tests_accepted": ["half_yearly", "yearly"],
        "after_each_use": True,
        "trigger": "use",
        "source": "regulation",
        "source_text": f"{VFDB}: SCBA complete, visual, leak and function test after use",
    },
    {
        "name": "SCBA: half-yearly leak and function test",
        "kind_of_device": "scba_set",
        "kind_of_test": "half_yearly",
        "tests_accepted": ["yearly", "after_use"],
        "interval_months": 6,
        "trigger": "manufacture",
        "source": "regulation",
        "source_text": f"{VFDB}: SCBA complete, half-yearly",
    },
    {
        "name": "SCBA: annual flow test (NFPA 1852)",
        "kind_of_device": "scba_set",
        "kind_of_test": "yearly",
        "interval_months": 12,
        "trigger": "manufacture",
        "source": "regulation",
        "source_text": "NFPA 1852: flow (performance) test at least annually",
    },
    {
        "name": "Composite cylinder: hydrostatic test every 5 years",
        "kind_of_device": "composite_cylinder",
        "kind_of_test": "hydrostatic",
        "interval_months": 60,
        "trigger": "manufacture",
        "source": "regulation",
        "source_text": (
            "US DOT 49 CFR 180.205 and the cylinder's special permit: carbon-fibre cylinders "
            "5 years (hoop-wrapped fibreglass 3 years)"
        ),
    },
    {
        "name": "Composite cylinder: 15-year service life",
        "kind_of_device": "composite_cylinder",
        "kind_of_test": "end_of_life",
        "life_limit_months": 180,
        "trigger": "manufacture",
        "source": "regulation",
        "source_text": "US DOT special permits for composite cylinders: 15-year service life",
    },
    {
        "name": "Steel / aluminium cylinder: hydrostatic test every 5 years",
        "kind_of_device": "metal_cylinder",
        "kind_of_test": "hydrostatic",
        "interval_months": 60,
        "trigger": "manufacture",
        "source": "regulation",
        "source_text": "US DOT 49 CFR 180.209 (DOT-3AA / 3AL): 5 years, no fixed life",
    },
    {
        "name": "Chemical protective suit: leak test after each use",
        "kind_of_device": "cps_suit",
        "kind_of_test": "after_use",
        "tests_accepted": ["yearly"],
        "after_each_use": True,
        "trigger": "use",
        "source": "regulation",
        "source_text": f"{VFDB}: gas-tight suit visual and pressure leak test after use",
    },
    {
        "name": "Chemical protective suit: yearly leak test",
        "kind_of_device": "cps_suit",
        "kind_of_test": "yearly",
        "tests_accepted": ["after_use"],
        "interval_months": 12,
        "trigger": "manufacture",
        "source": "manufacturer",
        "source_text": "Suit manufacturer's manual: pressure leak test at least every 12 months",
    },
    {
        "name": "Chemical protective suit: retest after repair",
        "kind_of_device": "cps_suit",
        "kind_of_test": "after_repair",
        "tests_accepted": ["after_use", "yearly"],
        "interval_months": 0,
        "trigger": "repair",
        "source": "manufacturer",
        "source_text": "Suit manufacturer's manual: leak test after every repair",
    },
]


def rule_schema() -> dict[str, Any]:
    """The JSON Schema of a rule body, for the page's tree editor."""
    return RuleBody.model_json_schema()


def check(document: dict[str, Any]) -> list[str]:
    """Answer what is wrong with a rule document (empty when it is a valid rule)."""
    try:
        RuleBody.model_validate(document)
    except ValidationError as exc:
        return [
            (".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "") + e["msg"]
            for e in exc.errors()
        ]
    return []


def query_rules(
    device_type: str | None = None, kind_of_device: str | None = None
) -> Select[WorkshopIntervalRule]:
    """Build the rule list query."""
    stmt = select(WorkshopIntervalRule)
    if device_type:
        stmt = stmt.where(WorkshopIntervalRule.device_type == device_type)
    if kind_of_device:
        stmt = stmt.where(WorkshopIntervalRule.kind_of_device == kind_of_device)
    return stmt.order_by(WorkshopIntervalRule.kind_of_device, WorkshopIntervalRule.id)


def to_read(rule: WorkshopIntervalRule) -> RuleRead:
    """Answer a rule row."""
    return RuleRead.model_validate(rule, from_attributes=True)


async def get_rule(session: AsyncSession, rule_id: int) -> WorkshopIntervalRule:
    """Load a rule or raise 404."""
    rule = await session.get(WorkshopIntervalRule, rule_id)
    if rule is None:
        raise NotFound("Rule not found")
    return rule


async def _refresh_matching(session: AsyncSession, *rules: WorkshopIntervalRule) -> None:
    conditions = []
    for rule in rules:
        cond = []
        if rule.device_type:
            cond.append(Device.device_type == rule.device_type)
        if rule.kind_of_device:
            cond.append(Device.kind_of_device == rule.kind_of_device)
        conditions.append(and_(*cond) if cond else true())
    ids = list(await session.scalars(select(Device.id).where(or_(*conditions))))
    await records.refresh_due(session, ids)


async def create_rule(
    session: AsyncSession, actor: Principal, body: RuleBody
) -> WorkshopIntervalRule:
    """Add a rule; the due dates of the items it is for are recomputed."""
    rule = WorkshopIntervalRule(**body.model_dump())
    session.add(rule)
    await session.flush()
    await _refresh_matching(session, rule)
    audit_for(actor).record(
        session,
        "workshop.rule.create",
        details={
            "entity": "workshop_rule",
            "id": rule.id,
            "changed": changes({}, body.model_dump()),
        },
    )
    return rule


async def replace_rule(
    session: AsyncSession, actor: Principal, rule: WorkshopIntervalRule, body: RuleBody
) -> WorkshopIntervalRule:
    """Replace a rule (the editor sends the whole document); due dates are recomputed."""
    before = to_read(rule).model_dump(include=set(RuleBody.model_fields))
    old = WorkshopIntervalRule(device_type=rule.device_type, kind_of_device=rule.kind_of_device)
    for key, value in body.model_dump().items():
        setattr(rule, key, value)
    await session.flush()
    await _refresh_matching(session, rule, old)
    audit_for(actor).record(
        session,
        "workshop.rule.update",
        details={
            "entity": "workshop_rule",
            "id": rule.id,
            "changed": changes(before, body.model_dump()),
        },
    )
    return rule


async def delete_rule(session: AsyncSession, actor: Principal, rule: WorkshopIntervalRule) -> None:
    """Delete a rule; its due entries go and the items are recomputed."""
    gone = WorkshopIntervalRule(device_type=rule.device_type, kind_of_device=rule.kind_of_device)
    rule_id = rule.id
    await session.delete(rule)
    await session.flush()
    await _refresh_matching(session, gone)
    audit_for(actor).record(
        session,
        "workshop.rule.delete",
        details={"entity": "workshop_rule", "id": rule_id},
    )


# ---------------------------------------------------------------- item records


async def get_device(session: AsyncSession, device_id: int) -> Device:
    """Load a device or raise 404."""
    device = await session.get(Device, device_id)
    if device is None:
        raise NotFound("Device not found")
    return device


async def set_item(
    session: AsyncSession, actor: Principal, device: Device, body: ItemUpdate
) -> WorkshopItem:
    """Record an item's manufacture date; its due dates and life limits are recomputed."""
    item = await session.get(WorkshopItem, device.id)
    before = item.manufactured_on.isoformat() if item and item.manufactured_on else None
    if item is None:
        item = WorkshopItem(device_id=device.id)
        session.add(item)
    item.manufactured_on = body.manufactured_on
    await session.flush()
    await records.refresh_due(session, [device.id])
    audit_for(actor).record(
        session,
        "workshop.item.update",
        details={
            "entity": "device",
            "id": device.id,
            "changed": {
                "manufactured_on": {
                    "old": before,
                    "new": body.manufactured_on.isoformat() if body.manufactured_on else None,
                }
            },
        },
    )
    return item


async def record_use(
    session: AsyncSession, actor: Principal, device: Device, body: UseCreate
) -> WorkshopUse:
    """Record a use of an item; after-use rules make it due."""
    use = WorkshopUse(
        device_id=device.id,
        used_at=body.used_at or utcnow(),
        note=body.note,
        recorded_by=actor.user_id,
    )
    session.add(use)
    await session.flush()
    await records.refresh_due(session, [device.id])
    audit_for(actor).record(
        session,
        "workshop.item.use",
        details={"entity": "device", "id": device.id, "used_at": use.used_at.isoformat()},
    )
    return use


async def fit(session: AsyncSession, actor: Principal, device: Device, body: ComponentFit) -> None:
    """Record the documented fitting date of a component (starts its clock)."""
    await fit_component(session, device.id, body.component, body.fitted_on)
    await records.refresh_due(session, [device.id])
    audit_for(actor).record(
        session,
        "workshop.item.fit",
        details={
            "entity": "device",
            "id": device.id,
            "component": body.component,
            "fitted_on": body.fitted_on.isoformat(),
        },
    )


def rule_set_rows() -> list[dict[str, Any]]:
    """The documented rule set as validated rows."""
    return [RuleBody.model_validate(entry).model_dump() for entry in RULE_SET]


async def seed_rule_set(session: AsyncSession, actor: Principal) -> int:
    """Add the documented rules that are missing (by name); answers how many were added."""
    names = set(await session.scalars(select(WorkshopIntervalRule.name)))
    added = [WorkshopIntervalRule(**row) for row in rule_set_rows() if row["name"] not in names]
    session.add_all(added)
    await session.flush()
    if added:
        await _refresh_matching(session, *added)
        audit_for(actor).record(
            session,
            "workshop.rule.seed",
            details={"entity": "workshop_rule", "ids": [r.id for r in added]},
        )
    return len(added)
