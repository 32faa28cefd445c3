"""Devices' ``configuration``: read, update one, and apply a template to many at once."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import audit_for, changes
from fleet.auth.deps import Principal
from fleet.config.schemas import ApplyResult, ApplyTemplate, DeviceFilter
from fleet.config.templates import template_for
from fleet.db import lock_row, lock_rows
from fleet.errors import BadRequest, NotFound, ValidationFailed
from fleet.models import Device, JsonTemplate
from fleet.search import icontains
from fleet.validation import raise_if_invalid, validate

TEMPLATE_TYPE = "device_config"
CHUNK = 500
MAX_BULK = 20_000


def query(filters: DeviceFilter, q: str | None = None) -> Select[Any]:
    """Build the filtered device query, ordered by id."""
    stmt = select(Device)
    if filters.device_type:
        stmt = stmt.where(Device.device_type == filters.device_type)
    if filters.kind_of_device:
        stmt = stmt.where(Device.kind_of_device == filters.kind_of_device)
    if filters.customer_id is not None:
        stmt = stmt.where(Device.customer_id == filters.customer_id)
    if filters.status:
        stmt = stmt.where(Device.status == filters.status)
    if filters.device_ids is not None:
        stmt = stmt.where(Device.id.in_(filters.device_ids))
    if q:
        stmt = stmt.where(icontains(Device.device_number, q))
    return stmt.order_by(Device.id)


async def get(session: AsyncSession, device_id: int) -> Device:
    """Load one device or raise 404."""
    row = await session.get(Device, device_id)
    if row is None:
        raise NotFound("Device not found")
    return row


async def check_configuration(session: AsyncSession, device_type: str, document: Any) -> None:
    """Validate a configuration against the device type's ``device_config`` template, if any."""
    template = await template_for(session, TEMPLATE_TYPE, device_type)
    if template is not None:
        raise_if_invalid(validate(document, template.schema_), "configuration")


async def update(
    session: AsyncSession, device: Device, configuration: dict[str, Any], principal: Principal
) -> Device:
    """Replace one device's configuration after validating it; audited with old and new."""
    await lock_row(session, Device, device.id)  # the audit's old value is the one replaced
    await check_configuration(session, device.device_type, configuration)
    before = {"configuration": device.configuration}
    device.configuration = configuration
    diff = changes(before, {"configuration": configuration})
    if diff:
        await session.flush()
        audit_for(principal).record(
            session,
            "config.device.update",
            details={"entity": "device", "id": device.id, "changes": diff},
        )
    return device


async def apply_template(
    session: AsyncSession, data: ApplyTemplate, principal: Principal
) -> ApplyResult:
    """Apply a ``device_config`` template's defaults to every matching device, all or none.

    A template with a category only reaches devices of that type. Each resulting
    configuration is validated against its device type's own template before anything is
    written; the first invalid device makes the whole request fail with its number.
    """
    template: JsonTemplate | None = await session.get(JsonTemplate, data.template_id)
    if template is None:
        raise NotFound("Template not found")
    if template.template_type != TEMPLATE_TYPE:
        raise BadRequest(
            f"Template {template.id} is a '{template.template_type}' template, "
            f"not a '{TEMPLATE_TYPE}' one"
        )
    filters = data.filters
    if template.category:
        if filters.device_type and filters.device_type != template.category:
            raise BadRequest(
                f"Template is for '{template.category}' devices, not '{filters.device_type}'"
            )
        filters = filters.model_copy(update={"device_type": template.category})
    defaults = template.default_values
    if data.mode == "merge" and not isinstance(defaults, dict):
        raise BadRequest("Only a template whose defaults are an object can be merged")

    # Locked while their configurations are merged: a merge is a read-modify-write.
    devices = await lock_rows(session, Device, query(filters).limit(MAX_BULK + 1))
    if len(devices) > MAX_BULK:
        raise BadRequest(f"At most {MAX_BULK} devices at once; narrow the filter")
    schemas: dict[str, Any] = {}
    changed: list[Device] = []
    planned: dict[int, Any] = {}
    for device in devices:
        if device.device_type not in schemas:
            own = await template_for(session, TEMPLATE_TYPE, device.device_type)
            schemas[device.device_type] = own.schema_ if own is not None else None
        if data.mode == "merge":
            new = {**(device.configuration or {}), **defaults}
        else:
            new = defaults
        schema = schemas[device.device_type]
        if schema is not None:
            issues = validate(new, schema)
            if issues:
                raise ValidationFailed(
                    {
                        "message": f"configuration of device {device.device_number} is not valid",
                        "device_id": device.id,
                        "errors": [asdict(i) for i in issues],
                    }
                )
        if new != device.configuration:
            changed.append(device)
            planned[device.id] = new
    if not data.dry_run and changed:
        for device in changed:
            device.configuration = planned[device.id]
        await session.flush()
        audit_for(principal).record(
            session,
            "config.device.apply_template",
            details={
                "entity": "device",
                "template_id": template.id,
                "mode": data.mode,
                "count": len(changed),
                "ids": [d.id for d in changed[:1000]],
            },
        )
    return ApplyResult(
        template_id=template.id,
        mode=data.mode,
        dry_run=data.dry_run,
        matched=len(devices),
        changed=len(changed),
        device_ids=[d.id for d in changed],
    )
