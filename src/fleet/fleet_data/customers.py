"""Customers: the list query, device counts per customer, creation, changes and deletion."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from fleet.audit import service as audit_log
from fleet.auth.deps import Principal
from fleet.db import flush_or_conflict
from fleet.errors import Conflict, NotFound
from fleet.fleet_data import cache
from fleet.fleet_data.schemas import CustomerCreate, CustomerRead, CustomerUpdate
from fleet.models import Customer, Device, TestReport
from fleet.search import like_pattern

CustomerSort = Literal["name", "-name", "created_at", "-created_at", "id", "-id"]


def _order(column: Any, descending: bool) -> Any:
    return column.desc() if descending else column.asc()


def contact_field(key: str) -> ColumnElement[str]:
    """A contact_info key as text, portable between SQLite (json_extract) and PostgreSQL (->>)."""
    return Customer.contact_info[key].as_string()


def query_customers(q: str | None, sort: CustomerSort) -> Select[Any]:
    """Build the filtered, sorted customer list query."""
    stmt = select(Customer)
    if q:
        pattern = like_pattern(q)
        stmt = stmt.where(
            or_(
                func.lower(Customer.name).like(pattern, escape="\\"),
                func.lower(contact_field("company")).like(pattern, escape="\\"),
                func.lower(contact_field("email")).like(pattern, escape="\\"),
            )
        )
    columns = {"name": Customer.name, "created_at": Customer.created_at, "id": Customer.id}
    descending = sort.startswith("-")
    return stmt.order_by(_order(columns[sort.lstrip("-")], descending), Customer.id)


async def customer_reads(session: AsyncSession, customers: list[Customer]) -> list[CustomerRead]:
    """Answer the customers with their device counts (one grouped query for the whole page)."""
    ids = [c.id for c in customers]
    counts: dict[int, int] = {}
    if ids:
        rows = await session.execute(
            select(Device.customer_id, func.count())
            .where(Device.customer_id.in_(ids))
            .group_by(Device.customer_id)
        )
        counts = {cid: n for cid, n in rows if cid is not None}
    return [
        CustomerRead(
            id=c.id,
            name=c.name,
            contact_info=c.contact_info,
            created_at=c.created_at,
            device_count=counts.get(c.id, 0),
        )
        for c in customers
    ]


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    """Load a customer or raise ``NotFound``."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"Customer {customer_id} not found")
    return customer


async def find_customer_by_name(session: AsyncSession, name: str) -> Customer | None:
    """Find the customer with this name, ignoring case (names are the import key)."""
    result: Customer | None = await session.scalar(
        select(Customer).where(func.lower(Customer.name) == name.lower()).limit(1)
    )
    return result


async def _ensure_unique_name(session: AsyncSession, name: str, exclude_id: int | None) -> None:
    found = await find_customer_by_name(session, name)
    if found is not None and found.id != exclude_id:
        raise Conflict(f"A customer named '{found.name}' already exists (id {found.id})")


def _customer_dict(customer: Customer) -> dict[str, Any]:
    return {"name": customer.name, "contact_info": customer.contact_info}


async def create_customer(
    session: AsyncSession, actor: Principal, data: CustomerCreate
) -> Customer:
    """Create a customer; names are unique, ignoring case."""
    await _ensure_unique_name(session, data.name, None)
    customer = Customer(name=data.name, contact_info=data.contact_info)
    session.add(customer)
    await session.flush()
    await cache.bump(session)
    audit_log.audit_for(actor).record(
        session,
        "customer.create",
        details={
            "entity": "customer",
            "id": customer.id,
            "changed": audit_log.changes({}, _customer_dict(customer)),
        },
    )
    await session.flush()
    return customer


async def update_customer(
    session: AsyncSession, actor: Principal, customer: Customer, data: CustomerUpdate
) -> Customer:
    """Change the given fields; ``contact_info`` is replaced as a whole."""
    fields = data.model_dump(exclude_unset=True)
    before = _customer_dict(customer)
    if "name" in fields:
        await _ensure_unique_name(session, fields["name"], customer.id)
    for key, value in fields.items():
        setattr(customer, key, value)
    changed = audit_log.changes(before, _customer_dict(customer))
    if changed:
        await cache.bump(session)
        audit_log.audit_for(actor).record(
            session,
            "customer.update",
            details={"entity": "customer", "id": customer.id, "changed": changed},
        )
    await session.flush()
    return customer


async def _flush_delete(session: AsyncSession, what: str, advice: str = "") -> None:
    """Flush a delete; a reference this module does not count (other modules' tables) is a 409."""
    await flush_or_conflict(session, f"{what} is still referenced by other records{advice}")


async def delete_customer(session: AsyncSession, actor: Principal, customer: Customer) -> None:
    """Delete a customer that no device and no test report refers to."""
    devices = await session.scalar(
        select(func.count()).select_from(Device).where(Device.customer_id == customer.id)
    )
    reports = await session.scalar(
        select(func.count()).select_from(TestReport).where(TestReport.customer_id == customer.id)
    )
    if devices or reports:
        raise Conflict(
            f"Customer '{customer.name}' still has {devices} device(s) and {reports} test "
            "report(s); reassign or delete them first"
        )
    audit_log.audit_for(actor).record(
        session,
        "customer.delete",
        details={"entity": "customer", "id": customer.id, "name": customer.name},
    )
    await session.delete(customer)
    await _flush_delete(session, f"Customer '{customer.name}'")
    await cache.bump(session)
