"""Workshop demo data (``fleet demo``): the documented rules, parts and stock, the demo items'
manufacture dates and component clocks, outcomes of the past tests, a failed test with its
proposed order, an item in repair, and a cylinder blocked by its life limit. Idempotent; runs
after the fleet history (it reads those tests)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet import dialect
from fleet.db import utcnow
from fleet.models import (
    Customer,
    Device,
    TestReport,
    User,
    WorkshopComponentClock,
    WorkshopIntervalRule,
    WorkshopItem,
    WorkshopPart,
    WorkshopPartUsage,
    WorkshopRepairOrder,
    WorkshopStockLot,
    WorkshopStockReceipt,
)
from fleet.workshop import hooks, records
from fleet.workshop.rules import rule_set_rows

# (number, name, fits, component, life months, threshold, [(lot, quantity)])
PARTS: list[tuple[str, str, list[str], str | None, int | None, int, list[tuple[str, int]]]] = [
    (
        "EVD-100",
        "Exhalation valve disc",
        ["full_face_mask"],
        "exhalation_valve_disc",
        48,
        5,
        [("L2611-A", 12), ("L2611-B", 6)],
    ),
    ("SPD-200", "Speech diaphragm", ["full_face_mask"], "speech_diaphragm", 72, 3, [("L2609", 8)]),
    ("VIS-300", "Visor, polycarbonate", ["full_face_mask"], None, None, 3, [("L2605", 2)]),
    ("HH-400", "Head harness", ["full_face_mask"], None, None, 4, [("L2601", 10)]),
    (
        "LDM-500",
        "Lung-demand valve membrane",
        ["lung_demand_valve", "scba_set"],
        "ldv_membrane",
        72,
        4,
        [("L2610", 9)],
    ),
    (
        "ORS-600",
        "O-ring set, high pressure",
        ["scba_set", "lung_demand_valve"],
        None,
        None,
        10,
        [("L2608", 40)],
    ),
]

# Extra demo items of kinds the workshop rules cover: (number, kind, customer name)
ITEMS: list[tuple[str, str, str]] = [
    ("LDV-4001", "lung_demand_valve", "City Fire Brigade"),
    ("CYL-5001", "composite_cylinder", "Harbour Chemicals"),
    ("CYL-5002", "composite_cylinder", "Northern Mine Rescue"),
]

# Manufacture dates (years ago) and fitted components (component, years ago)
MADE: dict[str, tuple[float, list[tuple[str, float]]]] = {
    "FFM-1001": (6, [("exhalation_valve_disc", 2), ("speech_diaphragm", 5)]),
    "FFM-1002": (3, [("exhalation_valve_disc", 3), ("speech_diaphragm", 3)]),
    "FFM-1003": (8, [("exhalation_valve_disc", 1), ("speech_diaphragm", 4)]),
    "FFM-1004": (2, [("exhalation_valve_disc", 2)]),
    "SCBA-2001": (5, []),
    "SCBA-2002": (4, []),
    "CPS-3001": (4, []),
    "LDV-4001": (5, [("ldv_membrane", 5)]),
    "CYL-5001": (15.5, []),  # past the 15-year life of a composite cylinder: blocked
    "CYL-5002": (4.8, []),  # hydrostatic test falls due within weeks
}


def _ago(years: float) -> Any:
    return utcnow() - timedelta(days=round(years * 365.25))


def _seed_rules(session: Session) -> int:
    names = set(session.scalars(select(WorkshopIntervalRule.name)))
    rows = [WorkshopIntervalRule(**r) for r in rule_set_rows() if r["name"] not in names]
    session.add_all(rows)
    return len(rows)


def _seed_parts(session: Session) -> tuple[int, dict[str, WorkshopPart]]:
    created = 0
    parts: dict[str, WorkshopPart] = {}
    for number, name, fits, component, life, threshold, lots in PARTS:
        part = session.scalar(select(WorkshopPart).where(WorkshopPart.part_number == number))
        if part is None:
            part = WorkshopPart(
                part_number=number,
                name=name,
                fits=fits,
                component=component,
                life_months=life,
                low_stock_threshold=threshold,
            )
            session.add(part)
            session.flush()
            for lot_number, quantity in lots:
                lot = WorkshopStockLot(part_id=part.id, lot_number=lot_number, quantity=quantity)
                session.add(lot)
                session.flush()
                session.add(
                    WorkshopStockReceipt(lot_id=lot.id, quantity=quantity, note="demo stock")
                )
            created += 1
        parts[number] = part
    return created, parts


def _seed_items(session: Session) -> int:
    created = 0
    existing = set(session.scalars(select(Device.device_number)))
    for number, kind, customer_name in ITEMS:
        if number in existing:
            continue
        customer = session.scalar(select(Customer.id).where(Customer.name == customer_name))
        session.add(
            Device(
                device_number=number,
                device_type="mask_tester",
                kind_of_device=kind,
                serial_number=f"SN-{number.replace('-', '')}",
                status="active",
                customer_id=customer,
            )
        )
        created += 1
    session.flush()
    for number, (years, components) in MADE.items():
        device = session.scalar(select(Device).where(Device.device_number == number))
        if device is None or session.get(WorkshopItem, device.id) is not None:
            continue
        session.add(WorkshopItem(device_id=device.id, manufactured_on=_ago(years)))
        for component, fitted in components:
            session.add(
                WorkshopComponentClock(
                    device_id=device.id, component=component, fitted_on=_ago(fitted)
                )
            )
        created += 1
    session.flush()
    return created


def _seed_orders(session: Session, parts: dict[str, WorkshopPart]) -> int:
    if session.scalar(select(WorkshopRepairOrder.id).limit(1)) is not None:
        return 0
    created = 0
    operator = session.scalar(select(User.id).where(User.username == "operator1"))
    manager = session.scalar(select(User.id).where(User.username == "manager1"))
    now = utcnow()
    # FFM-1002 failed its test yesterday (a real run on the simulated bench, from the fleet
    # demo): the workshop proposed a repair order naming the failed steps
    mask = session.scalar(select(Device).where(Device.device_number == "FFM-1002"))
    report = None
    if mask is not None:
        report = session.scalar(
            select(TestReport)
            .where(TestReport.device_id == mask.id, TestReport.status == "failed")
            .order_by(TestReport.start_time.desc())
            .limit(1)
        )
    if mask is not None and report is not None:
        steps = hooks.failed_steps(report.results if isinstance(report.results, dict) else {})
        session.add(
            WorkshopRepairOrder(
                device_id=mask.id,
                state="proposed",
                origin="failed_test",
                trigger_report_id=report.id,
                failed_steps=steps,
                findings=hooks.findings_of(steps),
                created_by=operator,
                created_at=report.end_time or report.start_time,
            )
        )
        created += 1
    # SCBA-2001 is in repair: lung-demand valve membrane being replaced
    scba = session.scalar(select(Device).where(Device.device_number == "SCBA-2001"))
    if scba is not None:
        order = WorkshopRepairOrder(
            device_id=scba.id,
            state="in_progress",
            origin="manual",
            failed_steps=[],
            findings="Demand valve free-flows at 4.1 mbar static pressure",
            technician_id=operator,
            created_by=manager,
            created_at=now - timedelta(days=2),
            opened_at=now - timedelta(days=2),
            started_at=now - timedelta(hours=5),
        )
        session.add(order)
        session.flush()
        part = parts["LDM-500"]
        lot = session.scalar(select(WorkshopStockLot).where(WorkshopStockLot.part_id == part.id))
        assert lot is not None
        lot.quantity -= 1
        usage = WorkshopPartUsage(
            order_id=order.id,
            part_id=part.id,
            lot_id=lot.id,
            quantity=1,
            fitted_at=now - timedelta(hours=4),
            created_by=operator,
        )
        session.add(usage)
        session.flush()
        session.add(
            WorkshopComponentClock(
                device_id=scba.id,
                component="ldv_membrane",
                fitted_on=usage.fitted_at,
                part_id=part.id,
                usage_id=usage.id,
            )
        )
        created += 2
    # FFM-1004 was repaired last week and waits for its retest
    done = session.scalar(select(Device).where(Device.device_number == "FFM-1004"))
    if done is not None:
        session.add(
            WorkshopRepairOrder(
                device_id=done.id,
                state="done",
                origin="manual",
                failed_steps=[],
                findings="Head harness torn",
                work_done="Head harness replaced",
                technician_id=operator,
                time_spent_minutes=15,
                created_by=manager,
                created_at=now - timedelta(days=8),
                opened_at=now - timedelta(days=8),
                started_at=now - timedelta(days=7),
                finished_at=now - timedelta(days=7),
            )
        )
        created += 1
    session.flush()
    return created


def seed_workshop(session: Session) -> int:
    """Create the missing workshop demo data; answers how many rows were created."""
    created = _seed_rules(session)
    count, parts = _seed_parts(session)
    created += count + _seed_items(session)
    created += records.run_plan_sync(session, hooks.backfill_plan(dialect.name_of(session)))
    created += _seed_orders(session, parts)
    ids = list(session.scalars(select(Device.id)))
    records.run_plan_sync(session, records.refresh_plan(ids))
    session.flush()
    return created
