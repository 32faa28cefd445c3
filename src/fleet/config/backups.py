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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import dialect
from fleet.audit.service import audit_for
from fleet.auth.deps import Principal
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
    User,
)
from fleet.pacing import Pacer
from fleet.validation import SchemaIssue, check_schema, check_template, raise_if_invalid, validate

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

_NULL_STR = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
_KEY = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[A-Za-z0-9_.\-]+$"}

ITEM_SCHEMAS: dict[str, dict[str, Any]] = {
    "configurations": {
        "type": "object",
        "required": ["config_key", "config_value"],
        "properties": {
            "config_key": _KEY,
            "config_value": {"not": {"type": "null"}},
            "component": {"enum": ["CPP", "CM", "FDM", "FCM", "FSM", None]},
            "updated_by": _NULL_INT,
            "id": _NULL_INT,
            "updated_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
    "json_templates": {
        "type": "object",
        "required": ["id", "name", "template_type", "schema", "default_values"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "template_type": {"type": "string", "minLength": 1, "maxLength": 100},
            "category": {"type": ["string", "null"], "maxLength": 100},
            "schema": True,
            "default_values": True,
            "description": _NULL_STR,
            "is_active": {"type": ["boolean", "null"]},
            "created_by": _NULL_INT,
            "created_at": _NULL_STR,
            "updated_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
    "translations": {
        "type": "object",
        "required": ["key", "language", "value"],
        "properties": {
            "key": {"type": "string", "minLength": 1, "maxLength": 255},
            "language": {"type": "string", "pattern": r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$"},
            "value": {"type": "string", "minLength": 1, "pattern": r"\S"},
            "component": {"type": ["string", "null"], "maxLength": 50},
            "id": _NULL_INT,
            "created_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
    "devices": {
        "type": "object",
        "required": ["device_number", "configuration"],
        "properties": {
            "device_number": {"type": "string", "minLength": 1, "maxLength": 100},
            "configuration": {"type": ["object", "null"]},
            "id": _NULL_INT,
            "device_type": _NULL_STR,
        },
        "additionalProperties": False,
    },
    "test_scenarios": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": _NULL_STR,
            "device_type": {"type": ["string", "null"], "maxLength": 100},
            "test_flow": {"type": ["object", "null"]},
            "is_active": {"type": ["boolean", "null"]},
            "created_by": _NULL_INT,
            "created_at": _NULL_STR,
            "updated_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
    "test_steps": {
        "type": "object",
        "required": ["id", "scenario_id", "step_order", "step_name"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "scenario_id": {"type": "integer"},
            "step_order": {"type": "integer"},
            "step_name": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": _NULL_STR,
            "parameters": {"type": ["object", "null"]},
            "criteria": {"type": ["object", "null"]},
            "auto_test": {"type": ["boolean", "null"]},
            "operator_participation": {"type": ["boolean", "null"]},
            "created_at": _NULL_STR,
        },
        "additionalProperties": False,
    },
}

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


@dataclass
class _Op:
    table: str
    action: str  # created | updated | unchanged
    ident: Any
    values: dict[str, Any]
    target: Any = None
    fields: list[str] = field(default_factory=list)


def _diff(current: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in wanted.items() if current.get(k) != v)


def _fail(issues: list[SchemaIssue]) -> None:
    raise_if_invalid(sorted(issues, key=lambda i: i.path), "backup")


def _unique(items: list[dict[str, Any]], table: str, key: Any) -> list[SchemaIssue]:
    seen: dict[Any, int] = {}
    issues = []
    for n, item in enumerate(items):
        k = key(item)
        if k in seen:
            issues.append(
                SchemaIssue(f"/tables/{table}/{n}", f"duplicate of item {seen[k]} ({k!r})")
            )
        else:
            seen[k] = n
    return issues


def _pick(templates: list[tuple[tuple[Any, ...], JsonTemplate | dict[str, Any]]]) -> Any:
    """The schema template_for would find after the restore: newest touched, then by id."""
    if not templates:
        return None
    _, best = max(templates, key=lambda pair: pair[0])
    return best["schema"] if isinstance(best, dict) else best.schema_


async def _resolve(session: AsyncSession, document: dict[str, Any], pacer: Pacer) -> list[_Op]:
    """Check every item against the database and plan the exact changes."""
    tables: dict[str, list[dict[str, Any]]] = document["tables"]
    get_items = lambda t: tables.get(t, [])  # noqa: E731
    issues: list[SchemaIssue] = []
    issues += _unique(get_items("configurations"), "configurations", lambda i: i["config_key"])
    issues += _unique(get_items("json_templates"), "json_templates", lambda i: i["id"])
    issues += _unique(
        get_items("translations"), "translations", lambda i: (i["key"], i["language"])
    )
    issues += _unique(get_items("devices"), "devices", lambda i: i["device_number"])
    issues += _unique(get_items("test_scenarios"), "test_scenarios", lambda i: i["id"])
    issues += _unique(get_items("test_steps"), "test_steps", lambda i: i["id"])

    # Foreign keys: users, scenarios of steps, devices by number.
    user_refs = {
        (t, n, col): item[col]
        for t, col in (
            ("json_templates", "created_by"),
            ("test_scenarios", "created_by"),
        )
        for n, item in enumerate(get_items(t))
        if item.get(col) is not None
    }
    if user_refs:
        known = set(
            (
                await session.scalars(select(User.id).where(User.id.in_(set(user_refs.values()))))
            ).all()
        )
        for (t, n, col), uid in user_refs.items():
            if uid not in known:
                issues.append(SchemaIssue(f"/tables/{t}/{n}/{col}", f"user {uid} does not exist"))
    scenario_ids = {i["id"] for i in get_items("test_scenarios")}
    step_scenarios = {i["scenario_id"] for i in get_items("test_steps")} - scenario_ids
    if step_scenarios:
        scenario_ids |= set(
            (
                await session.scalars(
                    select(TestScenario.id).where(TestScenario.id.in_(step_scenarios))
                )
            ).all()
        )
    for n, item in enumerate(get_items("test_steps")):
        await pacer.tick()
        if item["scenario_id"] not in scenario_ids:
            issues.append(
                SchemaIssue(
                    f"/tables/test_steps/{n}/scenario_id",
                    f"test scenario {item['scenario_id']} does not exist",
                )
            )
    numbers = [i["device_number"] for i in get_items("devices")]
    devices: dict[str, Device] = {}
    for start in range(0, len(numbers), 1000):
        chunk = numbers[start : start + 1000]
        for d in await session.scalars(select(Device).where(Device.device_number.in_(chunk))):
            devices[d.device_number] = d
    for n, number in enumerate(numbers):
        await pacer.tick()
        if number not in devices:
            issues.append(
                SchemaIssue(
                    f"/tables/devices/{n}/device_number", f"device {number!r} does not exist"
                )
            )
    for n, item in enumerate(get_items("json_templates")):
        await pacer.tick()
        for issue in check_template(item["schema"], item["default_values"]):
            issues.append(SchemaIssue(f"/tables/json_templates/{n}{issue.path}", issue.message))
    if issues:
        _fail(issues)

    ops: list[_Op] = []
    # json_templates first: the values below validate against the templates as restored.
    existing_t = {t.id: t for t in await session.scalars(select(JsonTemplate))}
    final: dict[int, JsonTemplate | dict[str, Any]] = dict(existing_t)
    touched: set[int] = set()
    for item in get_items("json_templates"):
        await pacer.tick()
        values = {
            k: item.get(k)
            for k in (
                "name",
                "template_type",
                "category",
                "schema",
                "default_values",
                "description",
                "is_active",
                "created_by",
            )
        }
        values["is_active"] = True if values["is_active"] is None else values["is_active"]
        row = existing_t.get(item["id"])
        if row is None:
            ops.append(_Op("json_templates", "created", item["id"], values))
            final[item["id"]] = {**values, "id": item["id"]}
            touched.add(item["id"])
            continue
        current = {
            "name": row.name,
            "template_type": row.template_type,
            "category": row.category,
            "schema": row.schema_,
            "default_values": row.default_values,
            "description": row.description,
            "is_active": row.is_active,
            "created_by": row.created_by,
        }
        changed = _diff(current, values)
        ops.append(
            _Op(
                "json_templates",
                "updated" if changed else "unchanged",
                item["id"],
                values,
                row,
                changed,
            )
        )
        if changed:
            final[item["id"]] = {**values, "id": item["id"]}
            touched.add(item["id"])

    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    def schema_for(ttype: str, category: str | None) -> Any:
        found = []
        for tid, t in final.items():
            vals = (
                t
                if isinstance(t, dict)
                else {
                    "template_type": t.template_type,
                    "category": t.category,
                    "is_active": t.is_active,
                }
            )
            if vals["template_type"] != ttype or not vals["is_active"]:
                continue
            if category is not None and vals["category"] != category:
                continue
            updated = epoch if isinstance(t, dict) else (t.updated_at or epoch)
            found.append(((tid in touched, updated, tid), t))
        return _pick(found)

    existing_c = {c.config_key: c for c in await session.scalars(select(Configuration))}
    for n, item in enumerate(get_items("configurations")):
        await pacer.tick()
        values = {
            "config_value": item["config_value"],
            "component": item.get("component"),
            "updated_by": item.get("updated_by"),
        }
        schema = schema_for("system_config", item["config_key"])
        if schema is not None:
            issues += [
                SchemaIssue(
                    f"/tables/configurations/{n}/config_value{i.path.rstrip('/')}", i.message
                )
                for i in validate(item["config_value"], schema)
            ]
        crow = existing_c.get(item["config_key"])
        if crow is None:
            ops.append(_Op("configurations", "created", item["config_key"], values))
        else:
            changed = _diff(
                {"config_value": crow.config_value, "component": crow.component},
                {k: values[k] for k in ("config_value", "component")},
            )
            ops.append(
                _Op(
                    "configurations",
                    "updated" if changed else "unchanged",
                    item["config_key"],
                    values,
                    crow,
                    changed,
                )
            )

    trans = get_items("translations")
    existing_tr: dict[tuple[str, str], Translation] = {}
    if trans:
        for tr in await session.scalars(select(Translation)):
            existing_tr[(tr.key, tr.language)] = tr
    for item in trans:
        await pacer.tick()
        values = {"value": item["value"], "component": item.get("component")}
        trow = existing_tr.get((item["key"], item["language"]))
        ident = f"{item['language']}:{item['key']}"
        if trow is None:
            ops.append(
                _Op(
                    "translations",
                    "created",
                    ident,
                    {**values, "key": item["key"], "language": item["language"]},
                )
            )
        else:
            changed = _diff({"value": trow.value, "component": trow.component}, values)
            ops.append(
                _Op(
                    "translations",
                    "updated" if changed else "unchanged",
                    ident,
                    values,
                    trow,
                    changed,
                )
            )

    for n, item in enumerate(get_items("devices")):
        await pacer.tick()
        device = devices[item["device_number"]]
        schema = schema_for("device_config", device.device_type)
        if schema is not None and item["configuration"] is not None:
            issues += [
                SchemaIssue(f"/tables/devices/{n}/configuration{i.path.rstrip('/')}", i.message)
                for i in validate(item["configuration"], schema)
            ]
        changed = _diff(
            {"configuration": device.configuration}, {"configuration": item["configuration"]}
        )
        ops.append(
            _Op(
                "devices",
                "updated" if changed else "unchanged",
                item["device_number"],
                {"configuration": item["configuration"]},
                device,
                changed,
            )
        )

    existing_s = {
        s.id: s
        for s in await session.scalars(
            select(TestScenario).where(
                TestScenario.id.in_([i["id"] for i in get_items("test_scenarios")])
            )
        )
    }
    for n, item in enumerate(get_items("test_scenarios")):
        await pacer.tick()
        values = {
            k: item.get(k)
            for k in ("name", "description", "device_type", "test_flow", "is_active", "created_by")
        }
        values["is_active"] = True if values["is_active"] is None else values["is_active"]
        schema = schema_for("test_flow", values["device_type"])
        if schema is not None and values["test_flow"] is not None:
            issues += [
                SchemaIssue(f"/tables/test_scenarios/{n}/test_flow{i.path.rstrip('/')}", i.message)
                for i in validate(values["test_flow"], schema)
            ]
        srow = existing_s.get(item["id"])
        if srow is None:
            ops.append(_Op("test_scenarios", "created", item["id"], values))
        else:
            current = {k: getattr(srow, k) for k in values}
            changed = _diff(current, values)
            ops.append(
                _Op(
                    "test_scenarios",
                    "updated" if changed else "unchanged",
                    item["id"],
                    values,
                    srow,
                    changed,
                )
            )

    existing_st = {
        s.id: s
        for s in await session.scalars(
            select(TestStep).where(TestStep.id.in_([i["id"] for i in get_items("test_steps")]))
        )
    }
    for item in get_items("test_steps"):
        await pacer.tick()
        values = {
            k: item.get(k)
            for k in (
                "scenario_id",
                "step_order",
                "step_name",
                "description",
                "parameters",
                "criteria",
                "auto_test",
                "operator_participation",
            )
        }
        values["auto_test"] = bool(values["auto_test"])
        if values["operator_participation"] is None:
            values["operator_participation"] = True
        strow = existing_st.get(item["id"])
        if strow is None:
            ops.append(_Op("test_steps", "created", item["id"], values))
        else:
            current = {k: getattr(strow, k) for k in values}
            changed = _diff(current, values)
            ops.append(
                _Op(
                    "test_steps",
                    "updated" if changed else "unchanged",
                    item["id"],
                    values,
                    strow,
                    changed,
                )
            )
    if issues:
        _fail(issues)
    return ops


def _summary(ops: list[_Op]) -> dict[str, TableChanges]:
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


_MODELS: dict[str, Any] = {
    "json_templates": JsonTemplate,
    "configurations": Configuration,
    "translations": Translation,
    "test_scenarios": TestScenario,
    "test_steps": TestStep,
}


def _apply(session: AsyncSession, op: _Op, user_id: int) -> None:
    values = dict(op.values)
    if op.table == "json_templates":
        values["schema_"] = values.pop("schema")
    if op.table == "configurations":
        values["updated_by"] = user_id
        values.setdefault("config_key", op.ident)
    if op.action == "created":
        model = _MODELS[op.table]
        if op.table in ("json_templates", "test_scenarios", "test_steps"):
            values["id"] = op.ident
        session.add(model(**values))
    elif op.action == "updated":
        for name, value in values.items():
            setattr(op.target, name, value)


async def _reset_sequences(session: AsyncSession) -> None:
    if not dialect.is_postgres(session):
        return
    for table in (
        "json_templates",
        "test_scenarios",
        "test_steps",
        "configurations",
        "translations",
    ):
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
        for table in (
            "json_templates",
            "configurations",
            "translations",
            "devices",
            "test_scenarios",
            "test_steps",
        ):
            for op in ops:
                if op.table == table:
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
