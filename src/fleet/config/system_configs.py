"""System configuration (``configurations``): one JSON value per key, validated against the
``system_config`` template whose category is the key, when such a template exists."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import audit_for, changes
from fleet.auth.deps import Principal
from fleet.config.schemas import COMPONENTS, SystemConfigCreate, SystemConfigPut, SystemConfigUpdate
from fleet.config.templates import validate_with_template
from fleet.db import flush_or_conflict, lock_row
from fleet.errors import Conflict, Forbidden, NotFound
from fleet.models import Configuration
from fleet.search import contains_literal

# A system_config template names its key in ``category`` (category = config_key).
TEMPLATE_TYPE = "system_config"


def _snapshot(row: Configuration) -> dict[str, Any]:
    return {
        "config_key": row.config_key,
        "config_value": row.config_value,
        "component": row.component,
    }


async def check_value(session: AsyncSession, key: str, value: Any) -> None:
    """Validate a value against the active ``system_config`` template of its key, if any."""
    await validate_with_template(session, TEMPLATE_TYPE, key, value, f"config_value of '{key}'")


def query(component: str | None, q: str | None, config_key: str | None) -> Select[Any]:
    """Build the filtered list query (``component=none`` selects the global settings)."""
    stmt = select(Configuration)
    if component == "none":
        stmt = stmt.where(Configuration.component.is_(None))
    elif component:
        stmt = stmt.where(Configuration.component == component)
    if config_key:
        stmt = stmt.where(Configuration.config_key == config_key)
    if q:
        stmt = stmt.where(contains_literal(Configuration.config_key, q))
    return stmt.order_by(Configuration.config_key)


async def get(session: AsyncSession, config_id: int) -> Configuration:
    """Load one configuration by id or raise 404."""
    row = await session.get(Configuration, config_id)
    if row is None:
        raise NotFound("Configuration not found")
    return row


async def get_by_key(session: AsyncSession, key: str) -> Configuration:
    """Load one configuration by key or raise 404."""
    row = await session.scalar(select(Configuration).where(Configuration.config_key == key))
    if row is None:
        raise NotFound(f"No configuration with key '{key}'")
    return row


async def _flush(session: AsyncSession, key: str) -> None:
    await flush_or_conflict(session, f"A configuration with key '{key}' already exists")


async def create(
    session: AsyncSession, data: SystemConfigCreate, principal: Principal
) -> Configuration:
    """Create a setting (409 on a duplicate key), validated and audited."""
    clash = await session.scalar(
        select(Configuration.id).where(Configuration.config_key == data.config_key)
    )
    if clash is not None:
        raise Conflict(f"A configuration with key '{data.config_key}' already exists")
    await check_value(session, data.config_key, data.config_value)
    row = Configuration(
        config_key=data.config_key,
        config_value=data.config_value,
        component=data.component,
        updated_by=principal.user_id,
    )
    session.add(row)
    await _flush(session, data.config_key)
    audit_for(principal).record(
        session,
        "config.system.create",
        details={"entity": "configuration", "id": row.id, "new": _snapshot(row)},
    )
    return row


async def update(
    session: AsyncSession, row: Configuration, data: SystemConfigUpdate, principal: Principal
) -> Configuration:
    """Change a setting's value and/or component; audits the old and the new value."""
    await lock_row(session, Configuration, row.id)  # the audit's old value is the one replaced
    before = _snapshot(row)
    fields = data.model_dump(exclude_unset=True)
    if "config_value" in fields:
        await check_value(session, row.config_key, fields["config_value"])
        row.config_value = fields["config_value"]
    if "component" in fields:
        row.component = fields["component"]
    after = _snapshot(row)
    diff = changes(before, after)
    if diff:
        row.updated_by = principal.user_id
        await session.flush()
        audit_for(principal).record(
            session,
            "config.system.update",
            details={
                "entity": "configuration",
                "id": row.id,
                "key": row.config_key,
                "changes": diff,
            },
        )
    return row


async def put_by_key(
    session: AsyncSession, key: str, data: SystemConfigPut, principal: Principal
) -> tuple[Configuration, bool]:
    """Create or replace the setting ``key``; answers the row and whether it was created."""
    row = await session.scalar(select(Configuration).where(Configuration.config_key == key))
    if row is None:
        created = SystemConfigCreate(
            config_key=key, config_value=data.config_value, component=data.component
        )
        return await create(session, created, principal), True
    update_data = SystemConfigUpdate.model_validate(data.model_dump(exclude_unset=True))
    return await update(session, row, update_data, principal), False


async def delete(session: AsyncSession, row: Configuration, principal: Principal) -> None:
    """Delete a setting; the audit row keeps its last value."""
    audit_for(principal).record(
        session,
        "config.system.delete",
        details={"entity": "configuration", "id": row.id, "old": _snapshot(row)},
    )
    await session.delete(row)
    await session.flush()


async def settings_for(
    session: AsyncSession, principal: Principal, component: str | None
) -> dict[str, Any]:
    """Answer ``{key: value}``: the global settings plus those of modules the caller reaches."""
    if component is not None:
        if component not in COMPONENTS:
            raise NotFound(f"Unknown component '{component}'")
        if not principal.can(component):
            raise Forbidden(f"Role '{principal.active_role}' has no access to {component}")
        wanted = [component]
    else:
        wanted = [c for c in COMPONENTS if principal.can(c)]
    stmt = (
        select(Configuration.config_key, Configuration.config_value)
        .where(or_(Configuration.component.is_(None), Configuration.component.in_(wanted)))
        .order_by(Configuration.config_key)
    )
    return {key: value for key, value in (await session.execute(stmt)).all()}
