"""Devices: the list as plain rows with its exact total, one device's view, rules, audit and
due dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from sqlalchemy import Integer, Select, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from fleet.audit import service as audit_log
from fleet.auth.deps import Principal
from fleet.config.templates import template_for, validate_with_template
from fleet.db import flush_or_conflict, lock_row, utcnow
from fleet.errors import Conflict, NotFound, ValidationFailed
from fleet.fleet_data import cache
from fleet.fleet_data.customers import _flush_delete, _order
from fleet.fleet_data.schemas import (
    DeviceCreate,
    DeviceRead,
    DeviceRow,
    DeviceUpdate,
    DueState,
)
from fleet.memo import Memo, watch
from fleet.models import (
    Customer,
    Device,
    DeviceDueDate,
    DeviceLogEntry,
    DeviceSoftware,
    SoftwareInstallation,
    TestReport,
)
from fleet.search import like_pattern
from fleet.workshop import records as workshop_records

DUE_SOON_DAYS = 30
DEVICE_FIELDS = (
    "device_number",
    "device_type",
    "kind_of_device",
    "serial_number",
    "status",
    "customer_id",
    "configuration",
)

DeviceSort = Literal[
    "device_number",
    "-device_number",
    "device_type",
    "-device_type",
    "status",
    "-status",
    "customer_name",
    "-customer_name",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "next_due_at",
    "-next_due_at",
    "id",
    "-id",
]


@dataclass(frozen=True)
class DeviceFilters:
    device_type: str | None = None
    kind_of_device: str | None = None
    status: str | None = None
    customer_id: int | None = None
    q: str | None = None
    due_before: datetime | None = None
    overdue: bool | None = None
    never_tested: bool | None = None

    @property
    def needs_due_join(self) -> bool:
        return (
            self.due_before is not None or self.overdue is not None or self.never_tested is not None
        )

    @property
    def only_tested(self) -> bool:
        """Every matching device has a due-date row (so an inner join suffices)."""
        return self.due_before is not None or self.overdue is True or self.never_tested is False

    @property
    def has_device_filters(self) -> bool:
        return any(
            v is not None and v != ""
            for v in (self.device_type, self.kind_of_device, self.status, self.customer_id, self.q)
        )


def _device_where(filters: DeviceFilters, now: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.device_type:
        where.append(Device.device_type == filters.device_type)
    if filters.kind_of_device:
        where.append(Device.kind_of_device == filters.kind_of_device)
    if filters.status:
        where.append(Device.status == filters.status)
    if filters.customer_id is not None:
        where.append(Device.customer_id == filters.customer_id)
    if filters.q:
        pattern = like_pattern(filters.q)
        where.append(
            or_(
                func.lower(Device.device_number).like(pattern, escape="\\"),
                func.lower(Device.serial_number).like(pattern, escape="\\"),
            )
        )
    if filters.due_before is not None:
        where.append(DeviceDueDate.next_due_at < filters.due_before)
    if filters.overdue is True:
        where.append(DeviceDueDate.next_due_at < now)
    elif filters.overdue is False:
        # Never-tested devices are not counted as overdue (see due_state).
        where.append(or_(DeviceDueDate.device_id.is_(None), DeviceDueDate.next_due_at >= now))
    if filters.never_tested is True:
        where.append(DeviceDueDate.device_id.is_(None))
    elif filters.never_tested is False:
        where.append(DeviceDueDate.device_id.is_not(None))
    return where


def device_select() -> Select[Device, str, DeviceDueDate]:
    """Devices with their customer's name and due-date row: one query, no per-row loads."""
    return (
        select(Device, Customer.name, DeviceDueDate)
        .outerjoin(Customer, Customer.id == Device.customer_id)
        .outerjoin(DeviceDueDate, DeviceDueDate.device_id == Device.id)
    )


def _device_sort(sort: DeviceSort) -> list[Any]:
    columns: dict[str, Any] = {
        "device_number": Device.device_number,
        "device_type": Device.device_type,
        "status": Device.status,
        "customer_name": Customer.name,
        "created_at": Device.created_at,
        "updated_at": Device.updated_at,
        "next_due_at": DeviceDueDate.next_due_at,
        "id": Device.id,
    }
    key = sort.lstrip("-")
    column = _order(columns[key], sort.startswith("-"))
    if key in {"customer_name", "next_due_at", "updated_at", "created_at"}:
        column = column.nulls_last()
    return [column] if key in {"id", "device_number"} else [column, Device.id]


# The device list's columns: plain values, no ORM objects (see fleet.reads).
_ROW_COLUMNS = (
    Device.id,
    Device.device_number,
    Device.device_type,
    Device.kind_of_device,
    Device.serial_number,
    Device.status,
    Device.customer_id,
    Customer.name,
    Device.configuration,
    Device.created_at,
    Device.updated_at,
    DeviceDueDate.device_id,
    DeviceDueDate.last_test_at,
    DeviceDueDate.next_due_at,
    DeviceDueDate.interval_months,
)


def _count_statement(filters: DeviceFilters) -> Select[Any]:
    if filters.only_tested and not filters.has_device_filters:
        # Each due-date row belongs to exactly one device (FK, cascade): count the index alone.
        return select(func.count()).select_from(DeviceDueDate)
    if filters.only_tested:
        return (
            select(func.count())
            .select_from(Device)
            .join(DeviceDueDate, DeviceDueDate.device_id == Device.id)
        )
    if filters.needs_due_join:
        return (
            select(func.count())
            .select_from(Device)
            .outerjoin(DeviceDueDate, DeviceDueDate.device_id == Device.id)
        )
    return select(func.count()).select_from(Device)


class PageStatements(NamedTuple):
    with_total: Any  # the page and, in its last column, the total
    without_total: Any  # the page alone, for a total remembered
    total: Any


def _build_page(filters: DeviceFilters, sort: DeviceSort, now: datetime) -> PageStatements:
    where = _device_where(filters, now)
    count = _count_statement(filters).where(*where)
    page = (
        select(*_ROW_COLUMNS)
        .select_from(Device)
        .outerjoin(Customer, Customer.id == Device.customer_id)
        .outerjoin(DeviceDueDate, DeviceDueDate.device_id == Device.id)
        .where(*where)
        .order_by(*_device_sort(sort))
        .offset(bindparam("page_offset", type_=Integer))
        .limit(bindparam("page_limit", type_=Integer))
    )
    with_total = page.add_columns(count.correlate(None).scalar_subquery())
    return PageStatements(with_total, page, count)


@lru_cache(maxsize=512)
def _cached_page(filters: DeviceFilters, sort: DeviceSort) -> PageStatements:
    # Filters that do not depend on the clock give the same statement every time: built once,
    # its SQL compiled once (SQLAlchemy's cache), the page's bounds are parameters.
    return _build_page(filters, sort, utcnow())


# Totals per filter (and the dashboard's fleet counts) are remembered for a moment and
# forgotten at once when devices, due dates or customers change (any session, any worker:
# see fleet.memo).
TOTALS_TOPIC = "devices.changed"
TOTALS_TTL_SECONDS = 10.0
watch(TOTALS_TOPIC, frozenset({"devices", "device_due_dates", "customers"}))


def new_totals_memo() -> Memo[Any]:
    """Create an app's memory of device-list totals and fleet counts."""
    return Memo(TOTALS_TOPIC, TOTALS_TTL_SECONDS)


async def list_device_rows(
    conn: AsyncConnection,
    filters: DeviceFilters,
    sort: DeviceSort,
    skip: int,
    limit: int,
    totals: Memo[Any] | None = None,
) -> tuple[int, list[DeviceRow]]:
    """Answer the exact total and one page of devices as plain rows, in one statement.

    The total rides along with the page as an uncorrelated subquery (computed once), or comes
    from ``totals`` when remembered there; only a page past the end, which has no row to carry
    it, costs a second statement.
    """
    now = utcnow()
    soon = now + timedelta(days=DUE_SOON_DAYS)
    clocked = filters.overdue is not None  # "overdue" compares with the current time
    statements = _build_page(filters, sort, now) if clocked else _cached_page(filters, sort)
    params = {"page_offset": skip, "page_limit": limit}
    total = None if clocked or totals is None else totals.get(filters)
    if total is not None:
        rows = (await conn.execute(statements.without_total, params)).all()
    else:
        epoch = totals.epoch if totals is not None else 0
        rows = (await conn.execute(statements.with_total, params)).all()
        if not rows:
            total = int(await conn.scalar(statements.total) or 0)
        else:
            total = int(rows[0][-1] or 0)
        if totals is not None and not clocked:
            totals.put(filters, total, epoch)
    items: list[DeviceRow] = []
    for row in rows:
        (
            id_,
            number,
            device_type,
            kind,
            serial,
            status,
            customer_id,
            customer_name,
            configuration,
            created_at,
            updated_at,
            tested,
            last_test_at,
            next_due_at,
            interval_months,
        ) = row[:15]
        items.append(
            {
                "id": id_,
                "device_number": number,
                "device_type": device_type,
                "kind_of_device": kind,
                "serial_number": serial,
                "status": status,
                "customer_id": customer_id,
                "customer_name": customer_name,
                "configuration": configuration,
                "created_at": created_at,
                "updated_at": updated_at,
                "last_test_at": last_test_at,
                "next_due_at": next_due_at,
                "interval_months": interval_months,
                "due_state": "never_tested"
                if tested is None
                else "overdue"
                if next_due_at < now
                else "due_soon"
                if next_due_at < soon
                else "ok",
            }
        )
    return total, items


async def customer_exists(conn: AsyncConnection, customer_id: int) -> None:
    """Refuse (422) a customer id that does not exist (read-only variant for list filters)."""
    if await conn.scalar(select(Customer.id).where(Customer.id == customer_id)) is None:
        raise ValidationFailed(
            {
                "message": f"Customer {customer_id} does not exist",
                "errors": [{"path": "/customer_id", "message": "unknown customer"}],
            }
        )


def due_state(due: DeviceDueDate | None, now: datetime) -> DueState:
    """Classify a device's next test: never tested, overdue, due within 30 days or fine."""
    if due is None:
        return "never_tested"
    if due.next_due_at < now:
        return "overdue"
    if due.next_due_at < now + timedelta(days=DUE_SOON_DAYS):
        return "due_soon"
    return "ok"


def to_read(
    device: Device, customer_name: str | None, due: DeviceDueDate | None, now: datetime
) -> DeviceRead:
    """Build the API view of a device."""
    return DeviceRead(
        id=device.id,
        device_number=device.device_number,
        device_type=device.device_type,
        kind_of_device=device.kind_of_device,
        serial_number=device.serial_number,
        status=device.status,
        customer_id=device.customer_id,
        customer_name=customer_name,
        configuration=device.configuration,
        created_at=device.created_at,
        updated_at=device.updated_at,
        last_test_at=due.last_test_at if due else None,
        next_due_at=due.next_due_at if due else None,
        interval_months=due.interval_months if due else None,
        due_state=due_state(due, now),
    )


async def read_device(session: AsyncSession, device_id: int) -> DeviceRead:
    """Load one device with customer name and due date, or raise ``NotFound``."""
    row = (await session.execute(device_select().where(Device.id == device_id))).first()
    if row is None:
        raise NotFound(f"Device {device_id} not found")
    device, name, due = row
    return to_read(device, name, due, utcnow())


async def get_device(session: AsyncSession, device_id: int) -> Device:
    """Load a device or raise ``NotFound``."""
    device = await session.get(Device, device_id)
    if device is None:
        raise NotFound(f"Device {device_id} not found")
    return device


async def ensure_customer_exists(session: AsyncSession, customer_id: int | None) -> None:
    """Refuse (422) a customer id that does not exist."""
    if customer_id is None:
        return
    if await session.get(Customer, customer_id) is None:
        raise ValidationFailed(
            {
                "message": f"Customer {customer_id} does not exist",
                "errors": [{"path": "/customer_id", "message": "unknown customer"}],
            }
        )


async def check_configuration(
    session: AsyncSession, device_type: str, configuration: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Validate a configuration against the active ``device_config`` template of the type
    (the shared check the config module uses too); 422 with every problem otherwise.

    A device without a configuration starts from the template's default values.
    """
    if configuration is None:
        template = await template_for(session, "device_config", device_type)
        if template is None or not isinstance(template.default_values, dict):
            return None
        configuration = dict(template.default_values)
    await validate_with_template(
        session, "device_config", device_type, configuration, "configuration"
    )
    return configuration


async def _ensure_unique_number(session: AsyncSession, number: str, exclude_id: int | None) -> None:
    found = await session.scalar(select(Device.id).where(Device.device_number == number))
    if found is not None and found != exclude_id:
        raise Conflict(f"Device number '{number}' is already used by device {found}")


def _device_dict(device: Device) -> dict[str, Any]:
    return {f: getattr(device, f) for f in DEVICE_FIELDS}


async def _flush(session: AsyncSession) -> None:
    await flush_or_conflict(session, "Device number already exists")


async def audit_device(
    session: AsyncSession,
    actor: Principal,
    action: str,
    device_id: int,
    details: dict[str, Any],
    *,
    link: bool = True,
) -> None:
    """Write the audit row of a device change and link it to the device for its history."""
    await cache.bump(session)
    row = audit_log.audit_for(actor).record(
        session,
        action,
        details={"entity": "device", "id": device_id, **details},
    )
    await session.flush()
    if link:
        session.add(DeviceLogEntry(log_id=row.id, device_id=device_id))
        await session.flush()


async def create_device(session: AsyncSession, actor: Principal, data: DeviceCreate) -> Device:
    """Create a device: unique number, existing customer, configuration valid for its type."""
    await _ensure_unique_number(session, data.device_number, None)
    await ensure_customer_exists(session, data.customer_id)
    configuration = await check_configuration(session, data.device_type, data.configuration)
    device = Device(**{**data.model_dump(), "configuration": configuration})
    session.add(device)
    await _flush(session)
    await audit_device(
        session,
        actor,
        "device.create",
        device.id,
        {"changed": audit_log.changes({}, _device_dict(device))},
    )
    await workshop_records.refresh_due(session, [device.id])  # the workshop's rules for it
    return device


async def update_device(
    session: AsyncSession, actor: Principal, device: Device, data: DeviceUpdate
) -> Device:
    """Change the given fields with the same rules as on creation."""
    # Locked and re-read first: a new device type keeps the stored configuration, which must
    # be the current one, not a snapshot another request has replaced since.
    await lock_row(session, Device, device.id)
    fields = data.model_dump(exclude_unset=True)
    before = _device_dict(device)
    if "device_number" in fields:
        await _ensure_unique_number(session, fields["device_number"], device.id)
    if "customer_id" in fields:
        await ensure_customer_exists(session, fields["customer_id"])
    if "configuration" in fields or "device_type" in fields:
        # null resets to the template's defaults, like on creation
        fields["configuration"] = await check_configuration(
            session,
            fields.get("device_type", device.device_type),
            fields.get("configuration", device.configuration),
        )
    for key, value in fields.items():
        setattr(device, key, value)
    changed = audit_log.changes(before, _device_dict(device))
    if changed:
        device.updated_at = utcnow()
        await _flush(session)
        await audit_device(session, actor, "device.update", device.id, {"changed": changed})
        if changed.keys() & {"device_type", "kind_of_device", "status"}:
            await workshop_records.refresh_due(session, [device.id])  # other rules may apply
    return device


async def delete_device(session: AsyncSession, actor: Principal, device: Device) -> None:
    """Delete a device nothing refers to; tested or installed devices are set inactive instead."""
    reports = await session.scalar(
        select(func.count()).select_from(TestReport).where(TestReport.device_id == device.id)
    )
    installs = await session.scalar(
        select(func.count())
        .select_from(SoftwareInstallation)
        .where(SoftwareInstallation.device_id == device.id)
    )
    software = await session.scalar(
        select(func.count())
        .select_from(DeviceSoftware)
        .where(DeviceSoftware.device_id == device.id)
    )
    if reports or installs or software:
        raise Conflict(
            f"Device '{device.device_number}' is referenced by {reports} test report(s), "
            f"{installs} software installation(s) and {software} installed-software record(s); "
            "set its status to 'inactive' (or 'decommissioned') instead"
        )
    await audit_device(
        session,
        actor,
        "device.delete",
        device.id,
        {"device_number": device.device_number},
        link=False,
    )
    await session.delete(device)
    await _flush_delete(
        session, f"Device '{device.device_number}'", "; set its status to 'inactive' instead"
    )


async def device_types(session: AsyncSession) -> tuple[list[str], list[str]]:
    """Answer the device types and kinds in use (for pick lists)."""
    types = await session.scalars(
        select(Device.device_type).distinct().order_by(Device.device_type)
    )
    kinds = await session.scalars(
        select(Device.kind_of_device)
        .where(Device.kind_of_device.is_not(None))
        .distinct()
        .order_by(Device.kind_of_device)
    )
    return list(types), [k for k in kinds if k]
