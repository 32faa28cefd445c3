"""``/api/v1/scenarios``: test scenarios (Connect Manager writes, everyone signed in reads)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from fleet.auth.deps import CurrentPrincipal, Principal, require_module
from fleet.deps import ReadConnDep, SessionDep
from fleet.pagination import PageDep
from fleet.reads import json_page
from fleet.scenarios import flow as flowlib
from fleet.scenarios import service
from fleet.scenarios.schemas import (
    SCENARIO_ROWS,
    FlowCheck,
    ScenarioCreate,
    ScenarioDuplicate,
    ScenarioExport,
    ScenarioImport,
    ScenarioRead,
    ScenarioUpdate,
    StepCreate,
    StepRead,
    StepUpdate,
    TemplateRead,
)

router = APIRouter(prefix="/scenarios", tags=["scenarios"])
AuthorDep = Annotated[Principal, Depends(require_module("CM"))]


@router.get("/schema")
async def flow_schema(_: CurrentPrincipal) -> dict[str, Any]:
    """Return the published JSON Schema (Draft 2020-12) of ``test_flow``."""
    return {
        **flowlib.TEST_FLOW_SCHEMA,
        "x-actions": {k: v["auto"] for k, v in flowlib.ACTIONS.items()},
        "x-signals": flowlib.SIGNAL_UNITS,
    }


@router.post("/validate")
async def validate_flow(body: FlowCheck, _: AuthorDep) -> dict[str, Any]:
    """Check a ``test_flow`` without saving it; answers its canonical form and every problem."""
    canon = flowlib.normalise(body.test_flow)
    issues = flowlib.check(canon)
    return {
        "valid": not issues,
        "test_flow": canon,
        "errors": [{"path": i.path, "message": i.message} for i in issues],
    }


@router.get("/templates", response_model=list[TemplateRead])
async def flow_templates(_: AuthorDep, session: SessionDep) -> list[TemplateRead]:
    """List the active ``test_flow`` JSON templates a new scenario can start from."""
    return [
        TemplateRead(
            id=t.id,
            name=t.name,
            category=t.category,
            description=t.description,
            default_values=t.default_values,
        )
        for t in await service.list_templates(session)
    ]


@router.get("", response_model=list[ScenarioRead])
async def list_scenarios(
    _: CurrentPrincipal,
    conn: ReadConnDep,
    page: PageDep,
    device_type: Annotated[str | None, Query(max_length=100)] = None,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """List scenarios, filtered by device type, active flag and a search on name/description."""
    total, rows = await service.list_scenario_rows(
        conn, device_type, is_active, q, page.skip, page.limit
    )
    return json_page(SCENARIO_ROWS, rows, total)


@router.post("", response_model=ScenarioRead, status_code=201)
async def create_scenario(
    body: ScenarioCreate, actor: AuthorDep, session: SessionDep
) -> ScenarioRead:
    """Create a scenario; its flow is validated and mirrored into ``test_steps``."""
    return service.to_read(await service.create_scenario(session, actor, body), 0)


@router.get("/export", response_model=list[ScenarioExport])
async def export_scenarios(
    _: AuthorDep,
    session: SessionDep,
    device_type: Annotated[str | None, Query(max_length=100)] = None,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> list[ScenarioExport]:
    """Export the filtered scenarios as portable JSON documents."""
    rows = await session.scalars(service.query_scenarios(device_type, is_active, q).limit(1000))
    return [service.export_document(s) for s in rows.all()]


@router.post("/import", response_model=list[ScenarioRead], status_code=201)
async def import_scenarios(
    body: ScenarioImport, actor: AuthorDep, session: SessionDep
) -> list[ScenarioRead]:
    """Create scenarios from exported documents, all or none."""
    return [
        service.to_read(s, 0)
        for s in await service.import_documents(session, actor, body.scenarios)
    ]


@router.get("/{scenario_id}", response_model=ScenarioRead)
async def get_scenario(scenario_id: int, _: CurrentPrincipal, session: SessionDep) -> ScenarioRead:
    """Return one scenario with its canonical flow and how many reports ran it."""
    scenario = await service.get_scenario(session, scenario_id)
    return service.to_read(scenario, await service.report_count(session, scenario_id))


@router.patch("/{scenario_id}", response_model=ScenarioRead)
async def update_scenario(
    scenario_id: int, body: ScenarioUpdate, actor: AuthorDep, session: SessionDep
) -> ScenarioRead:
    """Change the given fields; past reports keep the flow they ran."""
    scenario = await service.get_scenario(session, scenario_id)
    return service.to_read(await service.update_scenario(session, actor, scenario, body))


@router.put("/{scenario_id}", response_model=ScenarioRead)
async def replace_scenario(
    scenario_id: int, body: ScenarioCreate, actor: AuthorDep, session: SessionDep
) -> ScenarioRead:
    """Replace a scenario's fields and flow."""
    scenario = await service.get_scenario(session, scenario_id)
    update = ScenarioUpdate(**body.model_dump())
    return service.to_read(await service.update_scenario(session, actor, scenario, update))


@router.delete("/{scenario_id}", status_code=204)
async def delete_scenario(scenario_id: int, actor: AuthorDep, session: SessionDep) -> Response:
    """Delete a scenario that never ran (409 when reports refer to it)."""
    await service.delete_scenario(session, actor, await service.get_scenario(session, scenario_id))
    return Response(status_code=204)


@router.post("/{scenario_id}/duplicate", response_model=ScenarioRead, status_code=201)
async def duplicate_scenario(
    scenario_id: int, body: ScenarioDuplicate, actor: AuthorDep, session: SessionDep
) -> ScenarioRead:
    """Copy a scenario under a new name."""
    scenario = await service.get_scenario(session, scenario_id)
    return service.to_read(await service.duplicate_scenario(session, actor, scenario, body.name), 0)


@router.get("/{scenario_id}/export", response_model=ScenarioExport)
async def export_scenario(scenario_id: int, _: AuthorDep, session: SessionDep) -> ScenarioExport:
    """Export one scenario as a portable JSON document."""
    return service.export_document(await service.get_scenario(session, scenario_id))


# --- legacy test_steps, kept in step with test_flow ---


@router.get("/{scenario_id}/steps", response_model=list[StepRead])
async def list_steps(scenario_id: int, _: CurrentPrincipal, session: SessionDep) -> list[StepRead]:
    """List the scenario's legacy step rows (a mirror of its flow)."""
    scenario = await service.get_scenario(session, scenario_id)
    return [StepRead.model_validate(r) for r in await service.list_steps(session, scenario)]


@router.post("/{scenario_id}/steps", response_model=list[StepRead], status_code=201)
async def add_step(
    scenario_id: int, body: StepCreate, actor: AuthorDep, session: SessionDep
) -> list[StepRead]:
    """Insert a step; the flow is rewritten and the rows renumbered. Answers all steps."""
    scenario = await service.get_scenario(session, scenario_id)
    await service.add_step(session, actor, scenario, body)
    return [StepRead.model_validate(r) for r in await service.list_steps(session, scenario)]


@router.patch("/{scenario_id}/steps/{step_id}", response_model=list[StepRead])
async def update_step(
    scenario_id: int, step_id: int, body: StepUpdate, actor: AuthorDep, session: SessionDep
) -> list[StepRead]:
    """Change or move one step; the flow follows. Answers all steps."""
    scenario = await service.get_scenario(session, scenario_id)
    row = await service.get_step(session, scenario, step_id)
    await service.update_step(session, actor, scenario, row, body)
    return [StepRead.model_validate(r) for r in await service.list_steps(session, scenario)]


@router.delete("/{scenario_id}/steps/{step_id}", response_model=list[StepRead])
async def delete_step(
    scenario_id: int, step_id: int, actor: AuthorDep, session: SessionDep
) -> list[StepRead]:
    """Remove one step; the rest are renumbered. Answers the remaining steps."""
    scenario = await service.get_scenario(session, scenario_id)
    row = await service.get_step(session, scenario, step_id)
    await service.delete_step(session, actor, scenario, row)
    return [StepRead.model_validate(r) for r in await service.list_steps(session, scenario)]
