"""The one JSON Schema validation service (Draft 2020-12) that devices, scenarios,
system configs and templates all call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.errors import ValidationFailed
from fleet.models import JsonTemplate


@dataclass(frozen=True)
class SchemaIssue:
    """One problem: a JSON Pointer-like path into the document and a message."""

    path: str
    message: str


def _pointer(parts: Any) -> str:
    return "/" + "/".join(str(p) for p in parts) if parts else "/"


def check_schema(schema: Any) -> list[SchemaIssue]:
    """Return the problems that make ``schema`` an invalid Draft 2020-12 JSON Schema."""
    if not isinstance(schema, (dict, bool)):
        return [SchemaIssue("/", "a JSON Schema must be an object or a boolean")]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [SchemaIssue(_pointer(exc.absolute_path), exc.message)]
    return []


def validate(document: Any, schema: Any) -> list[SchemaIssue]:
    """Validate ``document`` against ``schema``; answers every problem, sorted by path."""
    return validator_for(schema)(document)


def validator_for(schema: Any) -> Callable[[Any], list[SchemaIssue]]:
    """Build the validation of one schema once, to check many documents with it."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def check(document: Any) -> list[SchemaIssue]:
        issues = [
            SchemaIssue(_pointer(e.absolute_path), e.message)
            for e in validator.iter_errors(document)
        ]
        return sorted(issues, key=lambda i: (i.path, i.message))

    return check


def raise_if_invalid(issues: list[SchemaIssue], what: str) -> None:
    """Raise a 422 carrying every issue with its path."""
    if issues:
        raise ValidationFailed(
            {"message": f"{what} is not valid", "errors": [asdict(i) for i in issues]}
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


def check_template(schema: Any, default_values: Any) -> list[SchemaIssue]:
    """Return the problems of a template: its schema first, then its defaults against it.

    Paths are prefixed with ``/schema`` or ``/default_values`` so a client can tell which part
    of the template is wrong.
    """
    problems = check_schema(schema)
    if problems:
        return [SchemaIssue(f"/schema{p.path.rstrip('/')}", p.message) for p in problems]
    return [
        SchemaIssue(f"/default_values{p.path.rstrip('/')}", p.message)
        for p in validate(default_values, schema)
    ]
