"""Moving customers and devices between installations: streamed CSV/JSON export and a
validated, all-or-nothing import (upsert by customer name / device number)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet import csvsafe
from fleet.audit import service as audit_log
from fleet.auth.deps import Principal
from fleet.config.templates import template_for
from fleet.db import utcnow
from fleet.errors import BadRequest, DomainError, ValidationFailed
from fleet.fleet_data import cache
from fleet.fleet_data.schemas import CustomerCreate, DeviceCreate, ImportError_, ImportReport
from fleet.models import Customer, Device, DeviceLogEntry, SystemLog
from fleet.pacing import Pacer
from fleet.validation import (
    LIMITS,
    PoisonValue,
    SchemaIssue,
    check_datetime,
    check_json_field,
    check_json_value,
    loads_strict,
    strict_decoder,
    validator_for,
)

Entity = Literal["devices", "customers"]
Format = Literal["csv", "json"]

MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_IMPORT_ROWS = 200_000
MAX_REPORTED_ERRORS = 1000
EXPORT_BATCH = 1000
LOOKUP_BATCH = 500
MAX_CACHED_CHECKS = 10_000

COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("name", "contact_info", "created_at"),
    "devices": (
        "device_number",
        "device_type",
        "kind_of_device",
        "serial_number",
        "status",
        "customer",
        "configuration",
        "created_at",
    ),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("name",),
    "devices": ("device_number", "device_type"),
}
JSON_COLUMNS = {"contact_info", "configuration"}
_DATETIME = TypeAdapter(datetime)


class PayloadTooLarge(DomainError):
    status_code = 413


# ---------------------------------------------------------------- export


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _export_rows(
    factory: async_sessionmaker[AsyncSession], entity: Entity
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield batches of export records; keyset paging keeps memory flat and locks short."""
    last_id = 0
    while True:
        async with factory() as session:
            if entity == "customers":
                customers = (
                    await session.scalars(
                        select(Customer)
                        .where(Customer.id > last_id)
                        .order_by(Customer.id)
                        .limit(EXPORT_BATCH)
                    )
                ).all()
                if not customers:
                    return
                last_id = customers[-1].id
                yield [
                    {
                        "name": c.name,
                        "contact_info": c.contact_info,
                        "created_at": _iso(c.created_at),
                    }
                    for c in customers
                ]
            else:
                rows = (
                    await session.execute(
                        select(Device, Customer.name)
                        .outerjoin(Customer, Customer.id == Device.customer_id)
                        .where(Device.id > last_id)
                        .order_by(Device.id)
                        .limit(EXPORT_BATCH)
                    )
                ).all()
                if not rows:
                    return
                last_id = rows[-1][0].id
                yield [
                    {
                        "device_number": d.device_number,
                        "device_type": d.device_type,
                        "kind_of_device": d.kind_of_device,
                        "serial_number": d.serial_number,
                        "status": d.status,
                        "customer": name,
                        "configuration": d.configuration,
                        "created_at": _iso(d.created_at),
                    }
                    for d, name in rows
                ]


def _csv_cell(key: str, value: Any) -> str:
    """One CSV cell; text a spreadsheet would run as a formula gets a leading ``'`` (csvsafe),
    which our import removes again."""
    if value is None:
        return ""
    if key in JSON_COLUMNS:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return csvsafe.neutralise(text)


async def export_stream(
    factory: async_sessionmaker[AsyncSession], entity: Entity, fmt: Format
) -> AsyncIterator[bytes]:
    """Stream every row of ``entity`` as CSV (with header) or as one JSON array."""
    columns = COLUMNS[entity]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(columns)
        yield buffer.getvalue().encode()
        async for batch in _export_rows(factory, entity):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows([_csv_cell(c, r[c]) for c in columns] for r in batch)
            yield buffer.getvalue().encode()
        return
    yield b"["
    first = True
    async for batch in _export_rows(factory, entity):
        parts = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in batch]
        chunk = ",\n".join(parts)
        yield (("\n" if first else ",\n") + chunk).encode()
        first = False
    yield b"\n]\n"


# ---------------------------------------------------------------- import: parsing


def decode_upload(data: bytes) -> str:
    """Decode an upload as UTF-8 (a byte-order mark is allowed) or refuse it."""
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"File is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise BadRequest("File is empty")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"File is not UTF-8 encoded (invalid byte at position {exc.start}); "
            "save it as UTF-8 and try again"
        ) from None


def _check_columns(entity: Entity, present: Iterable[str]) -> None:
    present = list(present)
    missing = [c for c in REQUIRED[entity] if c not in present]
    unknown = [c for c in present if c not in COLUMNS[entity]]
    duplicated = sorted({c for c in present if present.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    if duplicated:
        problems.append(f"duplicated column(s): {', '.join(duplicated)}")
    if problems:
        raise BadRequest("; ".join(problems) + f". Expected columns: {', '.join(COLUMNS[entity])}")


@dataclass
class RawRow:
    number: int
    values: dict[str, Any]
    errors: list[ImportError_] = field(default_factory=list)
    is_record: bool = True


async def parse_csv(entity: Entity, text: str, pacer: Pacer) -> list[RawRow]:
    """Parse CSV text with a header row; JSON columns hold JSON text, empty cells mean null.

    A cell written by our export with a leading ``'`` (formula neutralisation) is read back
    as the original value."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise BadRequest(f"Invalid CSV header: {exc}") from None
    header = [h.strip() for h in header]
    _check_columns(entity, header)
    rows: list[RawRow] = []
    try:
        for number, cells in enumerate(reader, start=1):
            await pacer.tick()
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_IMPORT_ROWS:
                raise BadRequest(f"Too many rows: at most {MAX_IMPORT_ROWS}")
            row = RawRow(number, {})
            if len(cells) != len(header):
                row.errors.append(
                    ImportError_(
                        row=number,
                        field=None,
                        message=f"expected {len(header)} cells, found {len(cells)}",
                    )
                )
            for key, raw in zip(header, cells, strict=False):
                cell = csvsafe.restore(raw.strip())
                if "\x00" in cell:
                    row.errors.append(
                        ImportError_(row=number, field=key, message="contains the NUL character")
                    )
                elif cell == "":
                    row.values[key] = None
                elif key in JSON_COLUMNS:
                    try:
                        row.values[key] = loads_strict(cell)
                        check_json_field(row.values[key])
                    except json.JSONDecodeError as exc:
                        row.errors.append(
                            ImportError_(row=number, field=key, message=f"invalid JSON: {exc.msg}")
                        )
                    except PoisonValue as exc:
                        row.errors.append(ImportError_(row=number, field=key, message=str(exc)))
                else:
                    row.values[key] = cell
            rows.append(row)
    except csv.Error as exc:
        raise BadRequest(f"Invalid CSV at line {reader.line_num}: {exc}") from None
    return rows


_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _json_error(exc: json.JSONDecodeError) -> BadRequest:
    return BadRequest(f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")


async def parse_json(entity: Entity, text: str, pacer: Pacer) -> list[RawRow]:
    """Parse a JSON array of objects with the export's keys, one element at a time."""
    decoder = strict_decoder()
    pos = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    if not text.startswith("[", pos):
        try:
            json.loads(text)
        except RecursionError:
            raise BadRequest("Invalid JSON: nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise _json_error(exc) from None
        raise BadRequest("JSON import must be an array of objects")
    pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
    items: list[Any] = []
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            await pacer.tick()
            try:
                item, pos = decoder.raw_decode(text, pos)
                # the rows sit one level above their JSON fields (object)
                check_json_value(item, LIMITS.max_depth + 1)
            except RecursionError:
                raise BadRequest("Invalid JSON: nested too deeply") from None
            except json.JSONDecodeError as exc:
                raise _json_error(exc) from None
            except PoisonValue as exc:
                where = "/".join(str(p) for p in (len(items), *exc.path))
                raise BadRequest(f"Invalid JSON at {where}: {exc}") from None
            items.append(item)
            if len(items) > MAX_IMPORT_ROWS:
                raise BadRequest(f"Too many rows: at most {MAX_IMPORT_ROWS}")
            pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
            if text.startswith(",", pos):
                pos = _WHITESPACE.match(text, pos + 1).end()  # type: ignore[union-attr]
                continue
            if text.startswith("]", pos):
                pos += 1
                break
            raise _json_error(json.JSONDecodeError("Expecting ',' delimiter", text, pos))
    if _WHITESPACE.match(text, pos).end() != len(text):  # type: ignore[union-attr]
        raise _json_error(json.JSONDecodeError("Extra data", text, pos))
    rows = []
    for number, item in enumerate(items, start=1):
        await pacer.tick()
        row = RawRow(number, {})
        if not isinstance(item, dict):
            row.errors.append(ImportError_(row=number, field=None, message="must be an object"))
            row.is_record = False
        else:
            for key, value in item.items():
                if key not in COLUMNS[entity]:
                    row.errors.append(
                        ImportError_(row=number, field=str(key)[:100], message="unknown field")
                    )
                elif key in JSON_COLUMNS and value is not None:
                    try:
                        check_json_field(value)
                        row.values[key] = value
                    except PoisonValue as exc:
                        row.errors.append(ImportError_(row=number, field=key, message=str(exc)))
                else:
                    row.values[key] = value
        rows.append(row)
    return rows


def _pydantic_errors(number: int, exc: ValidationError) -> list[ImportError_]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or None
        out.append(ImportError_(row=number, field=loc, message=err["msg"]))
    return out


def _created_at(row: RawRow) -> datetime | None:
    value = row.values.get("created_at")
    if value is None:
        return None
    try:
        parsed = check_datetime(_DATETIME.validate_python(value))
    except PoisonValue as exc:
        row.errors.append(ImportError_(row=row.number, field="created_at", message=str(exc)))
        return None
    except ValidationError:
        row.errors.append(
            ImportError_(row=row.number, field="created_at", message="not an ISO 8601 date-time")
        )
        return None
    return parsed


# ---------------------------------------------------------------- import: planning


@dataclass
class Plan:
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[ImportError_] = field(default_factory=list)


def _batches(items: list[str], size: int = LOOKUP_BATCH) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _customers_by_name(session: AsyncSession, names: Iterable[str]) -> dict[str, Customer]:
    wanted = sorted({n.lower() for n in names})
    found: dict[str, Customer] = {}
    for chunk in _batches(wanted):
        for c in await session.scalars(
            select(Customer).where(func.lower(Customer.name).in_(chunk))
        ):
            found.setdefault(c.name.lower(), c)
    return found


async def plan_customers(session: AsyncSession, rows: list[RawRow], pacer: Pacer) -> Plan:
    """Validate customer rows and split them into creates, updates and unchanged."""
    plan = Plan()
    seen: dict[str, int] = {}
    valid: list[tuple[RawRow, CustomerCreate, datetime | None]] = []
    for row in rows:
        await pacer.tick()
        if not row.is_record:
            plan.errors.extend(row.errors)
            continue
        created_at = _created_at(row)
        try:
            data = CustomerCreate.model_validate(
                {k: v for k, v in row.values.items() if k != "created_at"}
            )
        except ValidationError as exc:
            row.errors.extend(_pydantic_errors(row.number, exc))
            data = None
        if data is not None:
            key = data.name.lower()
            if key in seen:
                row.errors.append(
                    ImportError_(
                        row=row.number, field="name", message=f"same name as row {seen[key]}"
                    )
                )
            seen.setdefault(key, row.number)
        if row.errors or data is None:
            plan.errors.extend(row.errors)
            continue
        valid.append((row, data, created_at))
    existing = await _customers_by_name(session, (d.name for _, d, _ in valid))
    for _row, data, created_at in valid:
        await pacer.tick()
        current = existing.get(data.name.lower())
        if current is None:
            record: dict[str, Any] = {"name": data.name, "contact_info": data.contact_info}
            if created_at is not None:
                record["created_at"] = created_at
            plan.creates.append(record)
        elif current.name == data.name and current.contact_info == data.contact_info:
            plan.unchanged += 1
        else:
            plan.updates.append(
                {"id": current.id, "name": data.name, "contact_info": data.contact_info}
            )
    return plan


async def plan_devices(session: AsyncSession, rows: list[RawRow], pacer: Pacer) -> Plan:
    """Validate device rows (customer by name, configuration by template) and plan the upsert."""
    plan = Plan()
    seen: dict[str, int] = {}
    valid: list[tuple[RawRow, DeviceCreate, str | None, datetime | None]] = []
    for row in rows:
        await pacer.tick()
        if not row.is_record:
            plan.errors.extend(row.errors)
            continue
        created_at = _created_at(row)
        customer = row.values.get("customer")
        if customer is not None and not isinstance(customer, str):
            row.errors.append(
                ImportError_(row=row.number, field="customer", message="must be a customer name")
            )
            customer = None
        fields = {k: v for k, v in row.values.items() if k not in {"customer", "created_at"}}
        if fields.get("status") is None:
            fields.pop("status", None)
        try:
            data = DeviceCreate.model_validate(fields)
        except ValidationError as exc:
            row.errors.extend(_pydantic_errors(row.number, exc))
            data = None
        if data is not None:
            if data.device_number in seen:
                row.errors.append(
                    ImportError_(
                        row=row.number,
                        field="device_number",
                        message=f"same device number as row {seen[data.device_number]}",
                    )
                )
            seen.setdefault(data.device_number, row.number)
        if row.errors or data is None:
            plan.errors.extend(row.errors)
            continue
        valid.append((row, data, customer, created_at))

    customers = await _customers_by_name(session, (c for _, _, c, _ in valid if c))
    templates: dict[str, Any] = {}
    checks: dict[str, Callable[[Any], list[SchemaIssue]]] = {}
    for device_type in sorted({d.device_type for _, d, _, _ in valid}):
        templates[device_type] = template = await template_for(
            session, "device_config", device_type
        )
        if template is not None:
            checks[device_type] = validator_for(template.schema_)
    # Migrated fleets repeat the same few configurations: each is checked once per type.
    checked: dict[tuple[str, str], list[SchemaIssue]] = {}
    existing: dict[str, Device] = {}
    numbers = [d.device_number for _, d, _, _ in valid]
    for chunk in _batches(numbers):
        for device in await session.scalars(select(Device).where(Device.device_number.in_(chunk))):
            existing[device.device_number] = device

    for row, data, customer, created_at in valid:
        await pacer.tick()
        record = data.model_dump()
        if customer:
            match = customers.get(customer.lower())
            if match is None:
                plan.errors.append(
                    ImportError_(
                        row=row.number,
                        field="customer",
                        message=f"unknown customer '{customer[:100]}' (import customers first)",
                    )
                )
                continue
            record["customer_id"] = match.id
        template = templates.get(data.device_type)
        if template is not None:
            if record["configuration"] is None and isinstance(template.default_values, dict):
                record["configuration"] = dict(template.default_values)
            key = (data.device_type, json.dumps(record["configuration"], sort_keys=True))
            issues = checked.get(key)
            if issues is None:
                issues = checks[data.device_type](record["configuration"])
                if len(checked) < MAX_CACHED_CHECKS:
                    checked[key] = issues
            if issues:
                plan.errors.extend(
                    ImportError_(row=row.number, field=f"configuration{i.path}", message=i.message)
                    for i in issues
                )
                continue
        current = existing.get(data.device_number)
        if current is None:
            if created_at is not None:
                record["created_at"] = created_at
            plan.creates.append(record)
        elif all(getattr(current, k) == v for k, v in record.items()):
            plan.unchanged += 1
        else:
            plan.updates.append({"id": current.id, **record})
    return plan


# ---------------------------------------------------------------- import: applying


async def _apply(
    session: AsyncSession, actor: Principal, entity: Entity, plan: Plan, rows: int, pacer: Pacer
) -> None:
    model: Any = Customer if entity == "customers" else Device
    await cache.bump(session)
    now = utcnow()
    created_ids: list[int] = []
    if plan.creates:
        for record in plan.creates:
            record.setdefault("created_at", now)
            if entity == "devices":
                record["updated_at"] = now
        for start in range(0, len(plan.creates), EXPORT_BATCH):
            await pacer.tick()
            chunk = plan.creates[start : start + EXPORT_BATCH]
            created_ids.extend(await session.scalars(insert(model).returning(model.id), chunk))
    if plan.updates:
        if entity == "devices":
            for record in plan.updates:
                record["updated_at"] = now
        for start in range(0, len(plan.updates), EXPORT_BATCH):
            await pacer.tick()
            await session.execute(update(model), plan.updates[start : start + EXPORT_BATCH])
    log: SystemLog = audit_log.audit_for(actor).record(
        session,
        f"{entity[:-1]}.import",
        details={
            "entity": entity[:-1],
            "import": {
                "rows": rows,
                "created": len(plan.creates),
                "updated": len(plan.updates),
                "unchanged": plan.unchanged,
            },
        },
    )
    await session.flush()
    if entity == "devices":
        touched = created_ids + [u["id"] for u in plan.updates]
        for start in range(0, len(touched), EXPORT_BATCH):
            await pacer.tick()
            await session.execute(
                insert(DeviceLogEntry),
                [{"log_id": log.id, "device_id": i} for i in touched[start : start + EXPORT_BATCH]],
            )


async def import_file(
    session: AsyncSession,
    actor: Principal,
    entity: Entity,
    fmt: Format,
    data: bytes,
    dry_run: bool,
) -> ImportReport:
    """Check every row; a dry run only reports, otherwise apply all rows or none (422).

    Parsing and checking yield to the event loop as they go, so other requests are served
    while a big file is read (``fleet.pacing``; bench/import_stall_bench.py). The rows and the
    plan live in ``_import`` only: they are freed when it returns, before the pacer closes.
    """
    with Pacer() as pacer:
        return await _import(session, actor, entity, fmt, data, dry_run, pacer)


async def _import(
    session: AsyncSession,
    actor: Principal,
    entity: Entity,
    fmt: Format,
    data: bytes,
    dry_run: bool,
    pacer: Pacer,
) -> ImportReport:
    text = decode_upload(data)
    if fmt == "csv":
        rows = await parse_csv(entity, text, pacer)
    else:
        rows = await parse_json(entity, text, pacer)
    if entity == "customers":
        plan = await plan_customers(session, rows, pacer)
    else:
        plan = await plan_devices(session, rows, pacer)
    errors = sorted(plan.errors, key=lambda e: (e.row, e.field or ""))
    if len(errors) > MAX_REPORTED_ERRORS:
        hidden = len(errors) - MAX_REPORTED_ERRORS
        errors = [
            *errors[:MAX_REPORTED_ERRORS],
            ImportError_(row=0, field=None, message=f"{hidden} more error(s) not shown"),
        ]
    report = ImportReport(
        entity=entity,
        dry_run=dry_run,
        applied=False,
        rows=len(rows),
        created=len(plan.creates),
        updated=len(plan.updates),
        unchanged=plan.unchanged,
        errors=errors,
    )
    if dry_run:
        return report
    if errors:
        raise ValidationFailed(
            {
                "message": f"{len(plan.errors)} error(s) in the file; nothing was imported",
                **report.model_dump(mode="json"),
            }
        )
    await _apply(session, actor, entity, plan, len(rows), pacer)
    report.applied = True
    return report


def detect_format(filename: str | None, content_type: str | None, explicit: str | None) -> Format:
    """Pick CSV or JSON from the explicit parameter, the file name or the content type."""
    if explicit in ("csv", "json"):
        return explicit  # type: ignore[return-value]
    name = (filename or "").lower()
    if name.endswith(".json") or (content_type or "").startswith("application/json"):
        return "json"
    if name.endswith(".csv") or (content_type or "").startswith(("text/csv", "text/plain")):
        return "csv"
    raise BadRequest("Cannot tell the file format: name it .csv or .json or pass format=csv|json")
