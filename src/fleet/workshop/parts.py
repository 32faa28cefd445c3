"""Parts catalog and stock per lot: receipts add, repair orders consume, never below zero."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import audit_for, changes
from fleet.auth.deps import Principal
from fleet.db import conflict_on_integrity
from fleet.errors import Conflict, NotFound
from fleet.models import WorkshopPart, WorkshopStockLot, WorkshopStockReceipt
from fleet.workshop.schemas import (
    LotRead,
    PartCreate,
    PartRead,
    PartUpdate,
    ReceiptCreate,
    ReceiptRead,
)


def query_parts(q: str | None = None, active: bool | None = None) -> Select[WorkshopPart]:
    """Build the catalog query, by part number."""
    stmt = select(WorkshopPart)
    if q:
        pattern = f"%{q.lower()}%"
        stmt = stmt.where(
            WorkshopPart.part_number.ilike(pattern) | WorkshopPart.name.ilike(pattern)
        )
    if active is not None:
        stmt = stmt.where(WorkshopPart.is_active.is_(active))
    return stmt.order_by(WorkshopPart.part_number)


async def part_reads(session: AsyncSession, parts: Sequence[WorkshopPart]) -> list[PartRead]:
    """Answer parts with their lots and stock, lots loaded in one query."""
    lots: dict[int, list[LotRead]] = defaultdict(list)
    if parts:
        for lot in await session.scalars(
            select(WorkshopStockLot)
            .where(WorkshopStockLot.part_id.in_([p.id for p in parts]))
            .order_by(WorkshopStockLot.id)
        ):
            lots[lot.part_id].append(
                LotRead(id=lot.id, lot_number=lot.lot_number, quantity=lot.quantity)
            )
    out = []
    for p in parts:
        stock = sum(lot.quantity for lot in lots[p.id])
        out.append(
            PartRead(
                id=p.id,
                part_number=p.part_number,
                name=p.name,
                fits=list(p.fits or []),
                life_months=p.life_months,
                component=p.component,
                low_stock_threshold=p.low_stock_threshold,
                is_active=p.is_active,
                stock=stock,
                low_stock=p.is_active and stock <= p.low_stock_threshold,
                lots=lots[p.id],
            )
        )
    return out


async def get_part(session: AsyncSession, part_id: int) -> WorkshopPart:
    """Load a part or raise 404."""
    part = await session.get(WorkshopPart, part_id)
    if part is None:
        raise NotFound("Part not found")
    return part


def _as_dict(part: WorkshopPart) -> dict[str, object]:
    return {
        "part_number": part.part_number,
        "name": part.name,
        "fits": list(part.fits or []),
        "life_months": part.life_months,
        "component": part.component,
        "low_stock_threshold": part.low_stock_threshold,
        "is_active": part.is_active,
    }


async def create_part(session: AsyncSession, actor: Principal, body: PartCreate) -> WorkshopPart:
    """Add a part to the catalog (part numbers are unique: 409)."""
    exists = await session.scalar(
        select(WorkshopPart.id).where(WorkshopPart.part_number == body.part_number)
    )
    if exists is not None:
        raise Conflict(f"Part number {body.part_number} exists")
    part = WorkshopPart(**body.model_dump())
    session.add(part)
    await session.flush()
    audit_for(actor).record(
        session,
        "workshop.part.create",
        details={"entity": "workshop_part", "id": part.id, "changed": changes({}, _as_dict(part))},
    )
    return part


async def update_part(
    session: AsyncSession, actor: Principal, part: WorkshopPart, body: PartUpdate
) -> WorkshopPart:
    """Change the given fields of a part."""
    before = _as_dict(part)
    for key, value in body.model_dump(exclude_unset=True).items():
        if key in ("name", "is_active", "low_stock_threshold", "fits") and value is None:
            continue
        setattr(part, key, value)
    await session.flush()
    audit_for(actor).record(
        session,
        "workshop.part.update",
        details={
            "entity": "workshop_part",
            "id": part.id,
            "changed": changes(before, _as_dict(part)),
        },
    )
    return part


async def receive(
    session: AsyncSession, actor: Principal, part: WorkshopPart, body: ReceiptCreate
) -> ReceiptRead:
    """Receive goods into a lot of a part (the lot is created on its first receipt)."""
    lot = await session.scalar(
        select(WorkshopStockLot)
        .where(WorkshopStockLot.part_id == part.id, WorkshopStockLot.lot_number == body.lot_number)
        .with_for_update()
    )
    if lot is None:
        lot = WorkshopStockLot(part_id=part.id, lot_number=body.lot_number, quantity=0)
        session.add(lot)
        await session.flush()
    await session.execute(
        update(WorkshopStockLot)
        .where(WorkshopStockLot.id == lot.id)
        .values(quantity=WorkshopStockLot.quantity + body.quantity)
    )
    receipt = WorkshopStockReceipt(
        lot_id=lot.id, quantity=body.quantity, note=body.note, received_by=actor.user_id
    )
    session.add(receipt)
    await session.flush()
    await session.refresh(lot)
    audit_for(actor).record(
        session,
        "workshop.stock.receive",
        details={
            "entity": "workshop_part",
            "id": part.id,
            "lot": lot.lot_number,
            "quantity": body.quantity,
            "stock_in_lot": lot.quantity,
        },
    )
    return ReceiptRead(
        id=receipt.id,
        lot_id=lot.id,
        lot_number=lot.lot_number,
        quantity=receipt.quantity,
        note=receipt.note,
        received_at=receipt.received_at,
    )


async def take(session: AsyncSession, part_id: int, lot_id: int, quantity: int) -> WorkshopStockLot:
    """Take ``quantity`` from a lot of a part; 409 when the lot holds less (stock never < 0)."""
    lot = await session.get(WorkshopStockLot, lot_id)
    if lot is None or lot.part_id != part_id:
        raise NotFound("Lot not found for this part")
    # The CHECK constraint refuses what the WHERE let through, should a writer bypass it.
    with conflict_on_integrity(f"Lot {lot.lot_number} holds less than {quantity}"):
        result = await session.execute(
            update(WorkshopStockLot)
            .where(WorkshopStockLot.id == lot_id, WorkshopStockLot.quantity >= quantity)
            .values(quantity=WorkshopStockLot.quantity - quantity)
            .returning(WorkshopStockLot.quantity)
        )
        left = result.scalar_one_or_none()
    if left is None:
        await session.refresh(lot)
        raise Conflict(
            f"Lot {lot.lot_number} holds {lot.quantity}; {quantity} cannot be taken "
            "(stock never goes below zero)"
        )
    await session.refresh(lot)
    return lot


async def put_back(session: AsyncSession, lot_id: int, quantity: int) -> None:
    """Return parts to their lot (a usage line removed from an unfinished order)."""
    await session.execute(
        update(WorkshopStockLot)
        .where(WorkshopStockLot.id == lot_id)
        .values(quantity=WorkshopStockLot.quantity + quantity)
    )


async def low_stock(session: AsyncSession) -> list[PartRead]:
    """Answer the active parts whose stock is at or below their threshold."""
    parts = list(
        await session.scalars(
            select(WorkshopPart)
            .where(WorkshopPart.is_active.is_(True))
            .order_by(WorkshopPart.part_number)
        )
    )
    return [p for p in await part_reads(session, parts) if p.low_stock]
