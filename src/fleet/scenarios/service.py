"""Scenario rules: validated flows, the legacy ``test_steps`` mirror, duplicate, export/import."""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Select, bindparam, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from fleet.audit.service import audit_for, changes
from fleet.auth.deps import Principal
from fleet.errors import Conflict, NotFound
from fleet.models import JsonTemplate, TestReport, TestScenario, TestStep
from fleet.scenarios import flow as flowlib
from fleet.scenarios.schemas import (
    EXPORT_FORMAT,
    ScenarioCreate,
    ScenarioExport,
    ScenarioRead,
    ScenarioRow,
    ScenarioUpdate,
    StepCreate,
    StepUpdate,
)
from fleet.search import icontains
from fleet.validation import SchemaIssue, raise_if_invalid

_AUDITED = ("name", "description", "device_type", "is_active", "test_flow")


def checked_flow(flow: Any, what: str = "test_flow") -> dict[str, Any]:
    """Normalise a flow and raise 422 with every problem (path + message) when it is invalid."""
    canon = flowlib.normalise(flow)
    issues = flowlib.check(canon)
    if issues:
        issues = [
            SchemaIssue("/test_flow" + ("" if i.path == "/" else i.path), i.message) for i in issues
        ]
    raise_if_invalid(issues, what)
    result: dict[str, Any] = canon
    return result


def to_read(s: TestScenario, report_count: int | None = None) -> ScenarioRead:
    """Answer a scenario with its flow in canonical form."""
    canon = flowlib.normalise(s.test_flow or {"steps": []})
    if not isinstance(canon, dict):
        canon = {"steps": []}
    months = canon.get("interval_months")
    return ScenarioRead(
        id=s.id,
        name=s.name,
        description=s.description,
        device_type=s.device_type,
        test_flow=canon,
        kind_of_test=canon.get("kind_of_test")
        if isinstance(canon.get("kind_of_test"), str)
        else None,
        interval_months=months if isinstance(months, int) else None,
        step_count=len(flowlib.steps_of(canon)),
        created_by=s.created_by,
        is_active=bool(s.is_active),
        created_at=s.created_at,
        updated_at=s.updated_at,
        report_count=report_count,
    )


_ROW_COLUMNS = (
    TestScenario.id,
    TestScenario.name,
    TestScenario.description,
    TestScenario.device_type,
    TestScenario.test_flow,
    TestScenario.created_by,
    TestScenario.is_active,
    TestScenario.created_at,
    TestScenario.updated_at,
)


@lru_cache(maxsize=256)
def _page_statements(
    device_type: str | None, is_active: bool | None, q: str | None
) -> tuple[Any, Any]:
    # The same filters give the same statements: built once, the page's bounds are parameters.
    stmt = query_scenarios(device_type, is_active, q)
    count = select(func.count()).select_from(stmt.order_by(None).subquery())
    page = (
        stmt.with_only_columns(*_ROW_COLUMNS, count.scalar_subquery())
        .offset(bindparam("page_offset", type_=Integer))
        .limit(bindparam("page_limit", type_=Integer))
    )
    return page, count


async def list_scenario_rows(
    conn: AsyncConnection,
    device_type: str | None,
    is_active: bool | None,
    q: str | None,
    skip: int,
    limit: int,
) -> tuple[int, list[ScenarioRow]]:
    """Answer the exact total and one page of ``query_scenarios`` as plain rows (one statement;
    a page past the end costs a second one for the total)."""
    page, count = _page_statements(device_type, is_active, q)
    rows = (await conn.execute(page, {"page_offset": skip, "page_limit": limit})).all()
    if not rows:
        return int(await conn.scalar(count) or 0), []
    items: list[ScenarioRow] = []
    for id_, name, description, device_type, flow, created_by, active, created, updated, _ in rows:
        # The flow was just decoded from this row: canonical form in place, no copy.
        canon = flowlib.normalise(flow or {"steps": []}, in_place=True)
        if not isinstance(canon, dict):
            canon = {"steps": []}
        kind = canon.get("kind_of_test")
        months = canon.get("interval_months")
        items.append(
            {
                "id": id_,
                "name": name,
                "description": description,
                "device_type": device_type,
                "test_flow": canon,
                "kind_of_test": kind if isinstance(kind, str) else None,
                "interval_months": months if isinstance(months, int) else None,
                "step_count": len(flowlib.canonical_steps(canon)),
                "created_by": created_by,
                "is_active": bool(active),
                "created_at": created,
                "updated_at": updated,
                "report_count": None,
            }
        )
    return int(rows[0][-1] or 0), items


def query_scenarios(device_type: str | None, is_active: bool | None, q: str | None) -> Select[Any]:
    """Build the filtered scenario list query, by name."""
    stmt = select(TestScenario)
    if device_type:
        stmt = stmt.where(TestScenario.device_type == device_type)
    if is_active is not None:
        stmt = stmt.where(TestScenario.is_active.is_(is_active))
    if q:
        stmt = stmt.where(
            or_(icontains(TestScenario.name, q), icontains(TestScenario.description, q))
        )
    return stmt.order_by(TestScenario.name, TestScenario.id)


async def get_scenario(session: AsyncSession, scenario_id: int) -> TestScenario:
    """Load a scenario or raise 404."""
    scenario = await session.get(TestScenario, scenario_id)
    if scenario is None:
        raise NotFound("Scenario not found")
    return scenario


async def report_count(session: AsyncSession, scenario_id: int) -> int:
    """Count the reports that ran a scenario."""
    return int(
        await session.scalar(select(func.count()).where(TestReport.test_scenario_id == scenario_id))
        or 0
    )


async def sync_steps(session: AsyncSession, scenario: TestScenario) -> None:
    """Make the legacy ``test_steps`` rows mirror the scenario's flow exactly (rows are kept
    per position, so a step row's id stays while its position exists)."""
    existing = {
        row.step_order: row
        for row in await session.scalars(
            select(TestStep).where(TestStep.scenario_id == scenario.id)
        )
    }
    steps = flowlib.steps_of(scenario.test_flow)
    for step in steps:
        params = dict(step.get("parameters") or {})
        if step.get("required") is False:
            params["required"] = False
        row = existing.pop(step["step_order"], None)
        if row is None:
            row = TestStep(scenario_id=scenario.id, step_order=step["step_order"])
            session.add(row)
        row.step_name = step["step_name"]
        row.description = step.get("description")
        row.parameters = {**params, "action": step["action"]}
        row.criteria = step.get("criteria")
        row.auto_test = bool(step.get("auto_test"))
        row.operator_participation = bool(step.get("operator_participation", True))
    for row in existing.values():
        await session.delete(row)
    await session.flush()


def _snapshot(s: TestScenario) -> dict[str, Any]:
    return {k: getattr(s, k) for k in _AUDITED}


async def create_scenario(
    session: AsyncSession, actor: Principal, body: ScenarioCreate, action: str = "scenario.create"
) -> TestScenario:
    """Create a scenario with a validated flow and its mirrored step rows."""
    scenario = TestScenario(
        name=body.name,
        description=body.description,
        device_type=body.device_type,
        test_flow=checked_flow(body.test_flow),
        is_active=body.is_active,
        created_by=actor.user_id,
    )
    session.add(scenario)
    await session.flush()
    await sync_steps(session, scenario)
    audit_for(actor).record(
        session,
        action,
        details={"entity": "test_scenario", "id": scenario.id, "name": scenario.name},
    )
    return scenario


async def update_scenario(
    session: AsyncSession, actor: Principal, scenario: TestScenario, body: ScenarioUpdate
) -> TestScenario:
    """Apply the given fields; a new flow is validated and re-mirrored into ``test_steps``.

    Reports keep the flow they ran (a snapshot in ``results``), so editing never rewrites history.
    """
    before = _snapshot(scenario)
    data = body.model_dump(exclude_unset=True)
    if "name" in data and data["name"] is None:
        data.pop("name")
    if "test_flow" in data:
        if data["test_flow"] is None:
            data.pop("test_flow")
        else:
            data["test_flow"] = checked_flow(data["test_flow"])
    if "is_active" in data and data["is_active"] is None:
        data.pop("is_active")
    for key, value in data.items():
        setattr(scenario, key, value)
    await session.flush()
    if "test_flow" in data:
        await sync_steps(session, scenario)
    audit_for(actor).record(
        session,
        "scenario.update",
        details={
            "entity": "test_scenario",
            "id": scenario.id,
            "changes": changes(before, _snapshot(scenario)),
        },
    )
    return scenario


async def delete_scenario(session: AsyncSession, actor: Principal, scenario: TestScenario) -> None:
    """Delete a scenario that never ran; one with reports must be deactivated instead."""
    if await report_count(session, scenario.id):
        raise Conflict("Scenario has test reports; deactivate it instead of deleting")
    await session.execute(delete(TestStep).where(TestStep.scenario_id == scenario.id))
    await session.delete(scenario)
    audit_for(actor).record(
        session,
        "scenario.delete",
        details={"entity": "test_scenario", "id": scenario.id, "name": scenario.name},
    )
    await session.flush()


async def duplicate_scenario(
    session: AsyncSession, actor: Principal, scenario: TestScenario, name: str | None
) -> TestScenario:
    """Copy a scenario (flow and all) under a new name."""
    body = ScenarioCreate(
        name=name or f"{scenario.name} (copy)"[:255],
        description=scenario.description,
        device_type=scenario.device_type,
        test_flow=copy.deepcopy(scenario.test_flow or {"steps": []}),
        is_active=bool(scenario.is_active),
    )
    return await create_scenario(session, actor, body, action="scenario.duplicate")


def export_document(s: TestScenario) -> ScenarioExport:
    """Turn a scenario into its portable document."""
    read = to_read(s)
    return ScenarioExport(
        format=EXPORT_FORMAT,
        name=s.name,
        description=s.description,
        device_type=s.device_type,
        is_active=bool(s.is_active),
        test_flow=read.test_flow,
    )


async def import_documents(
    session: AsyncSession, actor: Principal, docs: list[ScenarioExport]
) -> list[TestScenario]:
    """Create scenarios from exported documents; every flow is checked before any write."""
    issues: list[SchemaIssue] = []
    for index, doc in enumerate(docs):
        canon = flowlib.normalise(doc.test_flow)
        issues += [
            SchemaIssue(
                f"/scenarios/{index}/test_flow" + ("" if i.path == "/" else i.path), i.message
            )
            for i in flowlib.check(canon)
        ]
    raise_if_invalid(issues, "Import")
    created = []
    for doc in docs:
        body = ScenarioCreate(
            name=doc.name,
            description=doc.description,
            device_type=doc.device_type,
            test_flow=doc.test_flow,
            is_active=doc.is_active,
        )
        created.append(await create_scenario(session, actor, body, action="scenario.import"))
    return created


# --- the legacy step rows: writing them rewrites the flow, and the flow re-mirrors them ---


async def list_steps(session: AsyncSession, scenario: TestScenario) -> list[TestStep]:
    """Return the mirrored step rows in order."""
    rows = await session.scalars(
        select(TestStep).where(TestStep.scenario_id == scenario.id).order_by(TestStep.step_order)
    )
    return list(rows)


def _step_from_body(data: dict[str, Any]) -> dict[str, Any]:
    step = {k: v for k, v in data.items() if v is not None and k != "step_order"}
    return step


async def _write_steps(
    session: AsyncSession, actor: Principal, scenario: TestScenario, steps: list[dict[str, Any]]
) -> None:
    for index, step in enumerate(steps):
        step["step_order"] = index + 1
    flow = {**copy.deepcopy(flowlib.normalise(scenario.test_flow or {})), "steps": steps}
    await update_scenario(session, actor, scenario, ScenarioUpdate(test_flow=flow))


def _find(steps: list[dict[str, Any]], row: TestStep) -> int:
    for index, step in enumerate(steps):
        if step.get("step_order") == row.step_order:
            return index
    raise NotFound("Step not found")


async def add_step(
    session: AsyncSession, actor: Principal, scenario: TestScenario, body: StepCreate
) -> None:
    """Insert a step (at ``step_order`` or last), renumbering the ones after it."""
    steps = flowlib.steps_of(scenario.test_flow)
    position = len(steps) if body.step_order is None else min(body.step_order - 1, len(steps))
    steps.insert(position, _step_from_body(body.model_dump()))
    await _write_steps(session, actor, scenario, steps)


async def get_step(session: AsyncSession, scenario: TestScenario, step_id: int) -> TestStep:
    """Load one mirrored step row of a scenario or raise 404."""
    row = await session.get(TestStep, step_id)
    if row is None or row.scenario_id != scenario.id:
        raise NotFound("Step not found")
    return row


async def update_step(
    session: AsyncSession,
    actor: Principal,
    scenario: TestScenario,
    row: TestStep,
    body: StepUpdate,
) -> None:
    """Change one step (and move it when ``step_order`` is given)."""
    steps = flowlib.steps_of(scenario.test_flow)
    index = _find(steps, row)
    data = body.model_dump(exclude_unset=True)
    step = steps.pop(index)
    for key, value in data.items():
        if key == "step_order":
            continue
        if value is None:
            step.pop(key, None)
        else:
            step[key] = value
    target = index if data.get("step_order") is None else min(data["step_order"] - 1, len(steps))
    steps.insert(target, step)
    await _write_steps(session, actor, scenario, steps)


async def delete_step(
    session: AsyncSession, actor: Principal, scenario: TestScenario, row: TestStep
) -> None:
    """Remove one step and renumber the rest."""
    steps = flowlib.steps_of(scenario.test_flow)
    steps.pop(_find(steps, row))
    await _write_steps(session, actor, scenario, steps)


async def list_templates(session: AsyncSession) -> list[JsonTemplate]:
    """Return the active ``test_flow`` JSON templates a new scenario can start from."""
    rows = await session.scalars(
        select(JsonTemplate)
        .where(JsonTemplate.template_type == "test_flow", JsonTemplate.is_active.is_(True))
        .order_by(JsonTemplate.name, JsonTemplate.id)
        .limit(200)
    )
    return list(rows)
