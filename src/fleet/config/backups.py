"""Backups of the configuration set and restoring them: checked in full first, then applied in
one transaction or not at all.

A backup document is ``{"format": "fleet-config-backup", "version": 1, "created_at",
"tables": {table: [item, ...]}}`` over configurations, json_templates, translations, device
configurations (by device number), test scenarios and steps. Its checksum is the SHA-256 of
its canonical JSON (sorted keys, no spaces, UTF-8).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import dialect
from fleet.audit.service import audit_for
from fleet.auth.deps import Principal
from fleet.config import backup_specs as specs
from fleet.config.backup_specs import Op
from fleet.config.schemas import BackupCreate, RestoreRequest, RestoreResult, TableChanges
from fleet.db import utcnow
from fleet.errors import NotFound, ValidationFailed
from fleet.models import (
    ConfigBackup,
    Configuration,
    Device,
    JsonTemplate,
    TestScenario,
    TestStep,
    Translation,
)
from fleet.pacing import Pacer
from fleet.validation import SchemaIssue, check_schema, raise_if_invalid, validate

FORMAT = "fleet-config-backup"
VERSION = 1
TABLES = (
    "configurations",
    "json_templates",
    "translations",
    "devices",
    "test_scenarios",
    "test_steps",
)
MAX_ITEMS = 5000  # change items listed per table in an answer

ITEM_SCHEMAS: dict[str, dict[str, Any]] = {t: specs.BY_TABLE[t].item_schema for t in TABLES}

DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "version", "tables"],
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "created_at": {"type": "string"},
        "tables": {
            "type": "object",
            "properties": {t: {"type": "array", "items": s} for t, s in ITEM_SCHEMAS.items()},
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
assert not check_schema(DOCUMENT_SCHEMA)


def canonical(data: Any) -> bytes:
    """Return the canonical JSON bytes the checksum is taken over."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def checksum(data: Any) -> tuple[str, int]:
    """Return the SHA-256 and the size in bytes of a document's canonical JSON."""
    raw = canonical(data)
    return hashlib.sha256(raw).hexdigest(), len(raw)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Accept a full backup document, or the bare ``{table: [items]}`` mapping, as a document."""
    if "format" in data or "tables" in data:
        document = data
    else:
        document = {"format": FORMAT, "version": VERSION, "tables": data}
    raise_if_invalid(validate(document, DOCUMENT_SCHEMA), "backup")
    return document


# ---- snapshot -------------------------------------------------------------------------------


async def snapshot(session: AsyncSession) -> dict[str, Any]:
    """Read the whole configuration set into a backup document."""
    tables: dict[str, list[dict[str, Any]]] = {}
    tables["configurations"] = [
        {
            "config_key": c.config_key,
            "config_value": c.config_value,
            "component": c.component,
            "updated_by": c.updated_by,
        }
        for c in await session.scalars(select(Configuration).order_by(Configuration.config_key))
    ]
    tables["json_templates"] = [
        {
            "id": t.id,
            "name": t.name,
            "template_type": t.template_type,
            "category": t.category,
            "schema": t.schema_,
            "default_values": t.default_values,
            "description": t.description,
            "is_active": t.is_active,
            "created_by": t.created_by,
        }
        for t in await session.scalars(select(JsonTemplate).order_by(JsonTemplate.id))
    ]
    tables["translations"] = [
        {"key": t.key, "language": t.language, "value": t.value, "component": t.component}
        for t in await session.scalars(
            select(Translation).order_by(Translation.key, Translation.language)
        )
    ]
    rows = await session.execute(
        select(Device.device_number, Device.configuration)
        .where(Device.configuration.is_not(None))
        .order_by(Device.id)
    )
    tables["devices"] = [
        {"device_number": number, "configuration": conf}
        for number, conf in rows
        if conf is not None
    ]
    tables["test_scenarios"] = [
        {
            "id": s.id,
            "name": s.name,
            "description": s.description,
            "device_type": s.device_type,
            "test_flow": s.test_flow,
            "is_active": s.is_active,
            "created_by": s.created_by,
        }
        for s in await session.scalars(select(TestScenario).order_by(TestScenario.id))
    ]
    tables["test_steps"] = [
        {
            "id": s.id,
            "scenario_id": s.scenario_id,
            "step_order": s.step_order,
            "step_name": s.step_name,
            "description": s.description,
            "parameters": s.parameters,
            "criteria": s.criteria,
            "auto_test": s.auto_test,
            "operator_participation": s.operator_participation,
        }
        for s in await session.scalars(select(TestStep).order_by(TestStep.id))
    ]
    return {"format": FORMAT, "version": VERSION, "created_at": _iso(utcnow()), "tables": tables}


async def _store(
    session: AsyncSession, name: str, kind: str, document: dict[str, Any], user_id: int | None
) -> ConfigBackup:
    digest, size = checksum(document)
    row = ConfigBackup(
        backup_name=name, kind=kind, data=document, size=size, sha256=digest, created_by=user_id
    )
    session.add(row)
    await session.flush()
    return row


async def create(session: AsyncSession, data: BackupCreate, principal: Principal) -> ConfigBackup:
    """Keep a backup: the given ``backup_data`` (checked), or a snapshot taken now."""
    name = data.backup_name or f"Backup_{utcnow():%Y-%m-%d_%H%M%S}"
    if data.backup_data is not None:
        document, kind = normalize(data.backup_data), "manual"
    else:
        document, kind = await snapshot(session), "snapshot"
    row = await _store(session, name, kind, document, principal.user_id)
    audit_for(principal).record(
        session,
        "config.backup.create",
        details={
            "entity": "config_backup",
            "id": row.id,
            "name": name,
            "kind": kind,
            "sha256": row.sha256,
            "size": row.size,
        },
    )
    return row


def list_query(kind: str | None) -> Select[Any]:
    """Build the newest-first list of kept backups (without their data)."""
    stmt = select(ConfigBackup)
    if kind:
        stmt = stmt.where(ConfigBackup.kind == kind)
    return stmt.order_by(ConfigBackup.created_at.desc(), ConfigBackup.id.desc())


async def get(session: AsyncSession, backup_id: int) -> ConfigBackup:
    """Load one kept backup or raise 404."""
    row = await session.get(ConfigBackup, backup_id)
    if row is None:
        raise NotFound("Backup not found")
    return row


def envelope(row: ConfigBackup) -> dict[str, Any]:
    """Return the downloadable form of a backup: its metadata, checksum and document."""
    return {
        "backup_name": row.backup_name,
        "kind": row.kind,
        "created_at": _iso(row.created_at),
        "sha256": row.sha256,
        "size": row.size,
        "backup_data": row.data,
    }


async def delete(session: AsyncSession, row: ConfigBackup, principal: Principal) -> None:
    """Delete a kept backup; audited."""
    audit_for(principal).record(
        session,
        "config.backup.delete",
        details={
            "entity": "config_backup",
            "id": row.id,
            "name": row.backup_name,
            "sha256": row.sha256,
        },
    )
    await session.delete(row)
    await session.flush()


# ---- restore --------------------------------------------------------------------------------


def _fail(issues: list[SchemaIssue]) -> None:
    raise_if_invalid(sorted(issues, key=lambda i: i.path), "backup")


async def _resolve(session: AsyncSession, document: dict[str, Any], pacer: Pacer) -> list[Op]:
    """Check every item against the database and plan the exact changes, table by table as
    ``backup_specs.SPECS`` describes them: the whole document first (duplicates, references,
    templates), then each item against its row and its JSON template."""
    restoring = specs.Restoring(session, pacer, document["tables"])
    issues: list[SchemaIssue] = []
    for spec in specs.SPECS:
        issues += specs.unique(restoring.items(spec.table), spec.table, spec.key)
    issues += await specs.unknown_users(restoring, specs.SPECS)
    for spec in specs.SPECS:
        restoring.existing[spec.table] = await spec.load(session, restoring.items(spec.table))
        if spec.references is not None:
            issues += await spec.references(restoring, restoring.items(spec.table))
    if issues:
        _fail(issues)

    # json_templates first: the values of the other tables validate against them as restored.
    first, *rest = specs.SPECS
    ops, issues = await specs.plan(first, restoring, None)
    templates = specs.Templates(restoring.existing[first.table], ops)
    for spec in rest:
        planned, found = await specs.plan(spec, restoring, templates)
        ops += planned
        issues += found
    if issues:
        _fail(issues)
    return ops


def _summary(ops: list[Op]) -> dict[str, TableChanges]:
    out = {t: TableChanges() for t in TABLES}
    for op in ops:
        tc = out[op.table]
        setattr(tc, op.action, getattr(tc, op.action) + 1)
        if op.action != "unchanged" and len(tc.items) < MAX_ITEMS:
            item: dict[str, Any] = {"id": op.ident, "action": op.action}
            if op.fields:
                item["fields"] = op.fields
            tc.items.append(item)
    return out


def _apply(session: AsyncSession, op: Op, user_id: int) -> None:
    spec = specs.BY_TABLE[op.table]
    values = {spec.columns.get(k, k): v for k, v in op.values.items()}
    if spec.on_write is not None:
        spec.on_write(values, op, user_id)
    if op.action == "created":
        if spec.keeps_id:
            values["id"] = op.ident
        session.add(spec.model(**values))
    elif op.action == "updated":
        for name, value in values.items():
            setattr(op.target, name, value)


async def _reset_sequences(session: AsyncSession) -> None:
    if not dialect.is_postgres(session):
        return
    for table in (spec.table for spec in specs.SPECS if spec.creates):
        await session.execute(dialect.reset_sequence(table, "id"))


async def restore(
    session: AsyncSession, data: RestoreRequest, principal: Principal
) -> RestoreResult:
    """Check a backup completely, answer its exact changes, and apply them unless a dry run.

    The whole-document checks run in a worker thread and the per-item checks yield to the
    event loop as they go (``fleet.pacing``): other requests are served meanwhile."""
    with Pacer() as pacer:
        return await _restore(session, data, principal, pacer)


async def _restore(
    session: AsyncSession, data: RestoreRequest, principal: Principal, pacer: Pacer
) -> RestoreResult:
    if data.backup_id is not None:
        row = await get(session, data.backup_id)
        digest, _ = await asyncio.to_thread(checksum, row.data)
        if digest != row.sha256:
            raise ValidationFailed(
                {"message": "stored backup is damaged: checksum mismatch", "errors": []}
            )
        document = await asyncio.to_thread(normalize, row.data)
    else:
        assert data.restore_data is not None
        given = data.restore_data
        if "backup_data" in given:
            if not isinstance(given["backup_data"], dict):
                _fail([SchemaIssue("/backup_data", "must be an object")])
            expected = given.get("sha256")
            digest, _ = await asyncio.to_thread(checksum, given["backup_data"])
            if expected is not None and expected != digest:
                raise ValidationFailed(
                    {
                        "message": "backup checksum does not match its content",
                        "errors": [{"path": "/sha256", "message": f"expected {digest}"}],
                    }
                )
            document = await asyncio.to_thread(normalize, given["backup_data"])
        else:
            document = await asyncio.to_thread(normalize, given)
        digest, _ = await asyncio.to_thread(checksum, document)
    ops = await _resolve(session, document, pacer)
    summary = _summary(ops)
    pre_id = None
    applied = False
    if not data.dry_run:
        pre = await _store(
            session,
            f"Before restore {utcnow():%Y-%m-%d %H:%M:%S}",
            "pre_restore",
            await snapshot(session),
            principal.user_id,
        )
        pre_id = pre.id
        for spec in specs.SPECS:
            for op in ops:
                if op.table == spec.table:
                    await pacer.tick()
                    _apply(session, op, principal.user_id)
            await session.flush()
        await _reset_sequences(session)
        applied = True
        audit_for(principal).record(
            session,
            "config.restore",
            details={
                "entity": "config_backup",
                "sha256": digest,
                "backup_id": data.backup_id,
                "pre_restore_backup_id": pre_id,
                "counts": {
                    t: {k: getattr(c, k) for k in ("created", "updated", "unchanged")}
                    for t, c in summary.items()
                },
            },
        )
    return RestoreResult(
        dry_run=data.dry_run,
        applied=applied,
        sha256=digest,
        pre_restore_backup_id=pre_id,
        changes=summary,
    )
