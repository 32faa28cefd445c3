"""JSON templates: a real Draft 2020-12 schema plus default values that validate against it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import audit_for, changes
from fleet.auth.deps import Principal
from fleet.config.schemas import TemplateCreate, TemplateUpdate
from fleet.errors import NotFound
from fleet.models import JsonTemplate
from fleet.search import icontains
from fleet.validation import SchemaIssue, check_template, raise_if_invalid, validate

FIELDS = (
    "name",
    "template_type",
    "category",
    "schema",
    "default_values",
    "description",
    "is_active",
)


async def template_for(
    session: AsyncSession, template_type: str, category: str | None
) -> JsonTemplate | None:
    """Find the active template of a type for a category (newest first), if any."""
    stmt = (
        select(JsonTemplate)
        .where(JsonTemplate.template_type == template_type, JsonTemplate.is_active.is_(True))
        .order_by(JsonTemplate.updated_at.desc(), JsonTemplate.id.desc())
        .limit(1)
    )
    if category is not None:
        stmt = stmt.where(JsonTemplate.category == category)
    result: JsonTemplate | None = await session.scalar(stmt)
    return result


async def validate_with_template(
    session: AsyncSession, template_type: str, category: str | None, document: Any, what: str
) -> None:
    """Validate ``document`` against the active template of that type/category, if one exists."""
    template = await template_for(session, template_type, category)
    if template is not None:
        raise_if_invalid(validate(document, template.schema_), what)


def snapshot(row: JsonTemplate) -> dict[str, Any]:
    """Return the template's editable fields (``schema`` under its column name)."""
    return {
        "name": row.name,
        "template_type": row.template_type,
        "category": row.category,
        "schema": row.schema_,
        "default_values": row.default_values,
        "description": row.description,
        "is_active": row.is_active,
    }


def query(
    template_type: str | None, category: str | None, is_active: bool | None, q: str | None
) -> Select[Any]:
    """Build the filtered list query."""
    stmt = select(JsonTemplate)
    if template_type:
        stmt = stmt.where(JsonTemplate.template_type == template_type)
    if category == "none":
        stmt = stmt.where(JsonTemplate.category.is_(None))
    elif category:
        stmt = stmt.where(JsonTemplate.category == category)
    if is_active is not None:
        stmt = stmt.where(JsonTemplate.is_active.is_(is_active))
    if q:
        stmt = stmt.where(icontains(JsonTemplate.name, q))
    return stmt.order_by(JsonTemplate.template_type, JsonTemplate.category, JsonTemplate.id)


async def get(session: AsyncSession, template_id: int) -> JsonTemplate:
    """Load one template or raise 404."""
    row = await session.get(JsonTemplate, template_id)
    if row is None:
        raise NotFound("Template not found")
    return row


def check(schema: Any, default_values: Any) -> list[SchemaIssue]:
    """Check a template draft: a valid schema, and defaults that validate against it."""
    return check_template(schema, default_values)


async def create(session: AsyncSession, data: TemplateCreate, principal: Principal) -> JsonTemplate:
    """Create a template after checking its schema and defaults; audited."""
    raise_if_invalid(check(data.schema_, data.default_values), "template")
    row = JsonTemplate(
        name=data.name,
        template_type=data.template_type,
        category=data.category,
        schema_=data.schema_,
        default_values=data.default_values,
        description=data.description,
        is_active=data.is_active,
        created_by=principal.user_id,
    )
    session.add(row)
    await session.flush()
    audit_for(principal).record(
        session,
        "config.template.create",
        details={"entity": "json_template", "id": row.id, "new": snapshot(row)},
    )
    return row


async def update(
    session: AsyncSession, row: JsonTemplate, data: TemplateUpdate, principal: Principal
) -> JsonTemplate:
    """Change a template; the resulting schema and defaults are checked together."""
    fields = data.model_dump(exclude_unset=True)
    for required in ("name", "template_type", "schema_", "default_values"):
        if required in fields and fields[required] is None:
            label = "schema" if required == "schema_" else required
            raise_if_invalid([SchemaIssue(f"/{label}", "may not be null")], "template")
    before = snapshot(row)
    schema = fields.get("schema_", row.schema_)
    defaults = fields.get("default_values", row.default_values)
    raise_if_invalid(check(schema, defaults), "template")
    for name, value in fields.items():
        setattr(row, name, value)
    diff = changes(before, snapshot(row))
    if diff:
        await session.flush()
        audit_for(principal).record(
            session,
            "config.template.update",
            details={"entity": "json_template", "id": row.id, "changes": diff},
        )
    return row


async def delete(session: AsyncSession, row: JsonTemplate, principal: Principal) -> None:
    """Delete a template; audited with its last content."""
    audit_for(principal).record(
        session,
        "config.template.delete",
        details={"entity": "json_template", "id": row.id, "old": snapshot(row)},
    )
    await session.delete(row)
    await session.flush()


def validate_document(row: JsonTemplate, document: Any) -> dict[str, Any]:
    """Answer ``{"valid", "errors": [{"path", "message"}]}`` for a document against a template."""
    issues = validate(document, row.schema_)
    return {"valid": not issues, "errors": [asdict(i) for i in issues]}
