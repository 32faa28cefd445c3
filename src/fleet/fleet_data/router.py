"""``/api/v1/fleet-data``: customers, devices, device history, dashboard, import/export.

Customers and devices are readable by every signed-in user (operators pick devices for a test);
changes, the dashboard and import/export need an active role that reaches FDM.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from fleet.audit import service as audit_log
from fleet.auth.deps import CurrentPrincipal, Principal, require_module
from fleet.config.templates import template_for
from fleet.deps import ReadConnDep, SessionDep
from fleet.fleet_data import customers, devices, importexport
from fleet.fleet_data import dashboard as dashboard_service
from fleet.fleet_data import history as history_service
from fleet.fleet_data.cache import DashboardCache
from fleet.fleet_data.cache import generation as cache_generation
from fleet.fleet_data.schemas import (
    CONTACT_SCHEMA,
    DEVICE_ROWS,
    IDENTIFIER,
    KNOWN_DEVICE_TYPES,
    MAX_ID,
    CustomerCreate,
    CustomerRead,
    CustomerUpdate,
    Dashboard,
    DeviceCreate,
    DeviceHistory,
    DeviceRead,
    DeviceStatus,
    DeviceTypes,
    DeviceUpdate,
    ImportReport,
)
from fleet.pagination import PageDep, paginate
from fleet.reads import json_page
from fleet.state import DeviceTotalsDep, state_of

router = APIRouter(prefix="/fleet-data", tags=["fleet data"])
ManagerDep = Annotated[Principal, Depends(require_module("FDM"))]
Search = Annotated[str | None, Query(max_length=100, description="Case-insensitive substring")]
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID)]
DeviceId = Annotated[int, Path(ge=1, le=MAX_ID)]


# ---------------------------------------------------------------- customers


@router.get("/customers", response_model=list[CustomerRead])
async def list_customers(
    _: CurrentPrincipal,
    session: SessionDep,
    page: PageDep,
    response: Response,
    q: Search = None,
    sort: customers.CustomerSort = "name",
) -> list[CustomerRead]:
    """List customers, searched by name, company or email, sorted (``-`` for descending)."""
    found = await paginate(session, customers.query_customers(q, sort), page, response)
    return await customers.customer_reads(session, found)


@router.post("/customers", response_model=CustomerRead, status_code=201)
async def create_customer(
    body: CustomerCreate, actor: ManagerDep, session: SessionDep
) -> CustomerRead:
    """Create a customer (names are unique, ignoring case)."""
    customer = await customers.create_customer(session, actor, body)
    return (await customers.customer_reads(session, [customer]))[0]


@router.get("/customers/contact-schema")
async def contact_schema(_: CurrentPrincipal) -> dict[str, Any]:
    """The JSON Schema of the contact fields the server checks, for the contact form."""
    return CONTACT_SCHEMA


@router.get("/customers/{customer_id}", response_model=CustomerRead)
async def get_customer(
    customer_id: CustomerId, _: CurrentPrincipal, session: SessionDep
) -> CustomerRead:
    """Return one customer with its device count."""
    customer = await customers.get_customer(session, customer_id)
    return (await customers.customer_reads(session, [customer]))[0]


@router.patch("/customers/{customer_id}", response_model=CustomerRead)
async def update_customer(
    customer_id: CustomerId, body: CustomerUpdate, actor: ManagerDep, session: SessionDep
) -> CustomerRead:
    """Change a customer's name or replace its contact_info."""
    customer = await customers.get_customer(session, customer_id)
    customer = await customers.update_customer(session, actor, customer, body)
    return (await customers.customer_reads(session, [customer]))[0]


@router.delete("/customers/{customer_id}", status_code=204)
async def delete_customer(
    customer_id: CustomerId, actor: ManagerDep, session: SessionDep
) -> Response:
    """Delete a customer that has no devices and no test reports (409 otherwise)."""
    customer = await customers.get_customer(session, customer_id)
    await customers.delete_customer(session, actor, customer)
    return Response(status_code=204)


# ---------------------------------------------------------------- devices


@router.get("/devices", response_model=list[DeviceRead])
async def list_devices(
    totals: DeviceTotalsDep,
    _: CurrentPrincipal,
    conn: ReadConnDep,
    page: PageDep,
    device_type: Annotated[str | None, Query(max_length=100, pattern=IDENTIFIER)] = None,
    kind_of_device: Annotated[str | None, Query(max_length=100)] = None,
    status: DeviceStatus | None = None,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    q: Search = None,
    due_before: Annotated[
        datetime | None, Query(description="Next test due before this date/time (UTC)")
    ] = None,
    overdue: Annotated[bool | None, Query(description="Next test due date has passed")] = None,
    never_tested: bool | None = None,
    sort: devices.DeviceSort = "device_number",
) -> Response:
    """List devices with customer name and due dates, filtered and sorted, one page."""
    if customer_id is not None:
        await devices.customer_exists(conn, customer_id)
    if due_before is not None and due_before.tzinfo is None:
        due_before = due_before.replace(tzinfo=UTC)
    filters = devices.DeviceFilters(
        device_type=device_type,
        kind_of_device=kind_of_device,
        status=status,
        customer_id=customer_id,
        q=q,
        due_before=due_before,
        overdue=overdue,
        never_tested=never_tested,
    )
    total, rows = await devices.list_device_rows(
        conn, filters, sort, page.skip, page.limit, totals
    )
    return json_page(DEVICE_ROWS, rows, total)


@router.get("/device-types", response_model=DeviceTypes)
async def device_types(_: CurrentPrincipal, session: SessionDep) -> DeviceTypes:
    """Answer the known device types and the types and kinds in use, for pick lists."""
    in_use, kinds = await devices.device_types(session)
    return DeviceTypes(known=list(KNOWN_DEVICE_TYPES), in_use=in_use, kinds_in_use=kinds)


@router.get("/device-types/{device_type}/config-schema")
async def device_config_schema(
    device_type: Annotated[str, Path(max_length=100)], _: CurrentPrincipal, session: SessionDep
) -> dict[str, Any]:
    """The JSON Schema and defaults of a device type's configuration (its ``device_config``
    template), for the configuration form; ``schema`` is null when the type has none."""
    template = await template_for(session, "device_config", device_type)
    if template is None:
        return {"schema": None, "default_values": None}
    return {"schema": template.schema_, "default_values": template.default_values}


@router.post("/devices", response_model=DeviceRead, status_code=201)
async def create_device(body: DeviceCreate, actor: ManagerDep, session: SessionDep) -> DeviceRead:
    """Create a device; its configuration must fit the device type's template, if any."""
    device = await devices.create_device(session, actor, body)
    return await devices.read_device(session, device.id)


@router.get("/devices/{device_id}", response_model=DeviceRead)
async def get_device(device_id: DeviceId, _: CurrentPrincipal, session: SessionDep) -> DeviceRead:
    """Return one device with its customer name and due dates."""
    return await devices.read_device(session, device_id)


@router.patch("/devices/{device_id}", response_model=DeviceRead)
async def update_device(
    device_id: DeviceId, body: DeviceUpdate, actor: ManagerDep, session: SessionDep
) -> DeviceRead:
    """Change the given fields of a device."""
    device = await devices.get_device(session, device_id)
    await devices.update_device(session, actor, device, body)
    return await devices.read_device(session, device.id)


@router.delete("/devices/{device_id}", status_code=204)
async def delete_device(device_id: DeviceId, actor: ManagerDep, session: SessionDep) -> Response:
    """Delete a device nothing refers to (409 otherwise: set it inactive instead)."""
    device = await devices.get_device(session, device_id)
    await devices.delete_device(session, actor, device)
    return Response(status_code=204)


@router.get("/devices/{device_id}/history", response_model=DeviceHistory)
async def device_history(
    device_id: DeviceId,
    _: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> DeviceHistory:
    """Return the device with its tests, software installations and changes, newest first."""
    return await history_service.device_history(session, device_id, limit)


# ---------------------------------------------------------------- dashboard


@router.get("/dashboard", response_model=Dashboard)
async def dashboard(
    request: Request,
    response: Response,
    _: ManagerDep,
    conn: ReadConnDep,
    fresh: Annotated[bool, Query(description="Recompute now instead of a recent answer")] = False,
) -> Dashboard:
    """Answer fleet totals, due-date counts and the last 30 days' test verdicts.

    A recent answer (at most 10 s old, dropped on every change made here) may be reused;
    ``generated_at`` tells when it was computed.
    """
    state = state_of(request)
    store = state.fleet_dashboard
    if store is None:
        store = state.fleet_dashboard = DashboardCache()
    response.headers["Cache-Control"] = "no-store"
    # A fresh answer reads the generation in its own statement; a remembered one is checked
    # against the generation now.
    cached: Dashboard | None = None if fresh else store.get(await cache_generation(conn))
    if cached is None:
        cached, current = await dashboard_service.dashboard(conn, state.device_totals)
        store.put(cached, current)
    return cached


# ---------------------------------------------------------------- import / export


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
async def export(
    request: Request,
    actor: ManagerDep,
    session: SessionDep,
    entity: importexport.Entity,
    format: importexport.Format = "csv",
) -> StreamingResponse:
    """Stream all customers or devices as CSV or a JSON array (the import's format)."""
    audit_log.audit_for(actor).record(
        session,
        f"{entity[:-1]}.export",
        details={"entity": entity[:-1], "format": format},
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
    return StreamingResponse(
        importexport.export_stream(state_of(request).sessionmaker, entity, format),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{entity}-{stamp}.{format}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/import", response_model=ImportReport)
async def import_(
    actor: ManagerDep,
    session: SessionDep,
    entity: importexport.Entity,
    file: Annotated[UploadFile, File(description="CSV or JSON file as exported")],
    dry_run: bool = True,
    format: Literal["csv", "json"] | None = None,
) -> ImportReport:
    """Check (``dry_run=true``) or apply an import; applying is all rows or none."""
    fmt = importexport.detect_format(file.filename, file.content_type, format)
    data = await file.read(importexport.MAX_IMPORT_BYTES + 1)
    return await importexport.import_file(session, actor, entity, fmt, data, dry_run)
