"""Demo customers and devices (``fleet demo``), and a past of tests for them.

Two seeders: ``seed_fleet_data`` runs before the other modules' seeders (they may attach to its
customers), ``seed_fleet_history`` after them (its test reports name their scenarios).
Both are idempotent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db import utcnow
from fleet.due import add_months
from fleet.models import (
    Customer,
    Device,
    DeviceDueDate,
    DeviceLogEntry,
    SystemLog,
    TestReport,
    TestReportSeal,
    TestScenario,
    User,
)
from fleet.runs import reports, simulated

CUSTOMERS: list[tuple[str, dict[str, Any]]] = [
    (
        "City Fire Brigade",
        {
            "phone": "+48 22 123 45 67",
            "email": "equipment@firebrigade.example",
            "address": "ul. Strażacka 1, Warsaw, Poland",
            "company": "City Fire Brigade",
            "notes": "Yearly tests in January",
            "contact_person": "Anna Nowak",
        },
    ),
    (
        "Northern Mine Rescue",
        {
            "phone": "+48 32 555 01 02",
            "email": "rescue@northmine.example",
            "address": "Katowice, Poland",
            "company": "Northern Mine Rescue Sp. z o.o.",
        },
    ),
    (
        "Harbour Chemicals",
        {
            "email": "safety@harbourchem.example",
            "company": "Harbour Chemicals AG",
            "notes": "CPS suits and SCBA sets; VIP customer",
        },
    ),
    ("Workshop (own equipment)", {"notes": "Testers and sensors of the service workshop"}),
]

_CONFIG: dict[str, dict[str, Any]] = {
    "mask_tester": {"target_pressure_mbar": -14, "sample_rate_hz": 10, "leak_test_duration_s": 60},
    "pressure_sensor": {"range_mbar": 100, "sample_rate_hz": 50},
    "flow_meter": {"range_l_min": 300, "sample_rate_hz": 10},
    "temperature_sensor": {"unit": "°C", "offset": 0},
    "humidity_sensor": {"offset_percent": 0},
}

# (number, type, kind, customer index or None, status)
DEVICES: list[tuple[str, str, str | None, int | None, str]] = [
    ("MT-0001", "mask_tester", "bench", 3, "active"),
    ("MT-0002", "mask_tester", "bench", 0, "active"),
    ("MT-0003", "mask_tester", "portable", 1, "maintenance"),
    ("FFM-1001", "mask_tester", "full_face_mask", 0, "active"),
    ("FFM-1002", "mask_tester", "full_face_mask", 0, "active"),
    ("FFM-1003", "mask_tester", "full_face_mask", 0, "active"),
    ("FFM-1004", "mask_tester", "full_face_mask", 1, "active"),
    ("FFM-1005", "mask_tester", "full_face_mask", 1, "inactive"),
    ("SCBA-2001", "mask_tester", "scba_set", 1, "active"),
    ("SCBA-2002", "mask_tester", "scba_set", 2, "active"),
    ("CPS-3001", "mask_tester", "cps_suit", 2, "active"),
    ("CPS-3002", "mask_tester", "cps_suit", 2, "decommissioned"),
    ("PS-0001", "pressure_sensor", "sensor", 3, "active"),
    ("PS-0002", "pressure_sensor", "sensor", 3, "maintenance"),
    ("FM-0001", "flow_meter", "sensor", 3, "active"),
    ("FM-0002", "flow_meter", "sensor", 1, "active"),
    ("TS-0001", "temperature_sensor", "sensor", 3, "active"),
    ("TS-0002", "temperature_sensor", "sensor", None, "inactive"),
    ("HS-0001", "humidity_sensor", "sensor", 3, "active"),
    ("HS-0002", "humidity_sensor", "sensor", None, "active"),
]

# Days ago of past tests per device number and the verdict of each; the newest decides the due
# date (12 months later): some are overdue, some due soon, some fine; the rest never tested.
HISTORY: dict[str, list[tuple[int, str]]] = {
    "FFM-1001": [(730, "passed"), (365 + 40, "passed")],  # overdue by ~40 days
    "FFM-1002": [(400, "passed"), (20, "warning"), (1, "failed")],  # to the workshop
    "FFM-1003": [(350, "passed")],  # due within 30 days
    "FFM-1004": [(380, "failed"), (379, "passed")],  # overdue
    "SCBA-2001": [(100, "passed")],
    "SCBA-2002": [(500, "passed")],  # overdue
    "CPS-3001": [(10, "failed"), (9, "passed")],
    "MT-0002": [(200, "passed")],
    "MT-0003": [(340, "warning")],  # due soon
}


def _audit_create(session: Session, device: Device) -> None:
    log = SystemLog(
        log_level="INFO",
        action="device.create",
        details={
            "entity": "device",
            "id": device.id,
            "changed": {
                "device_number": {"old": None, "new": device.device_number},
                "device_type": {"old": None, "new": device.device_type},
                "status": {"old": None, "new": device.status},
            },
            "source": "demo data",
        },
    )
    session.add(log)
    session.flush()
    session.add(DeviceLogEntry(log_id=log.id, device_id=device.id))


def seed_fleet_data(session: Session) -> int:
    """Create the missing demo customers and devices; answers how many rows were created."""
    created = 0
    customers: list[Customer] = []
    for name, contact in CUSTOMERS:
        customer = session.scalar(select(Customer).where(Customer.name == name))
        if customer is None:
            customer = Customer(name=name, contact_info=contact)
            session.add(customer)
            session.flush()
            created += 1
        customers.append(customer)
    existing = set(session.scalars(select(Device.device_number)))
    for number, device_type, kind, customer_index, status in DEVICES:
        if number in existing:
            continue
        device = Device(
            device_number=number,
            device_type=device_type,
            kind_of_device=kind,
            serial_number=f"SN-{number.replace('-', '')}",
            status=status,
            customer_id=customers[customer_index].id if customer_index is not None else None,
            configuration=dict(_CONFIG[device_type]),
        )
        session.add(device)
        session.flush()
        _audit_create(session, device)
        created += 1
    session.flush()
    return created


def seed_fleet_history(session: Session) -> int:
    """Give the demo devices past test reports and due dates (once); answers rows created."""
    now = utcnow()
    operator = session.scalar(select(User.id).where(User.username == "operator1"))
    created = 0
    for number, tests in HISTORY.items():
        device = session.scalar(select(Device).where(Device.device_number == number))
        if device is None:
            continue
        if session.scalar(select(TestReport.id).where(TestReport.device_id == device.id)):
            continue
        scenario = session.scalar(
            select(TestScenario)
            .where(TestScenario.device_type == device.device_type, TestScenario.is_active.is_(True))
            .order_by(TestScenario.id)
            .limit(1)
        )
        operator_name = session.scalar(select(User.username).where(User.id == operator))
        newest: TestReport | None = None
        for days_ago, verdict in sorted(tests, reverse=True):
            start = now - timedelta(days=days_ago, hours=2)
            flow = (scenario.test_flow if scenario else None) or {}
            header = {
                "scenario": {
                    "id": scenario.id if scenario else None,
                    "name": scenario.name if scenario else None,
                    "device_type": device.device_type,
                    "kind_of_test": flow.get("kind_of_test"),
                    "interval_months": 12,
                },
                "device": {
                    "id": device.id,
                    "device_number": device.device_number,
                    "device_type": device.device_type,
                    "kind_of_device": device.kind_of_device,
                    "serial_number": device.serial_number,
                },
                "operator": {"id": operator, "username": operator_name},
            }
            # the bench's profile for the intended outcome; the verdict is what it measured
            profile = {"passed": "good", "warning": "marginal"}.get(verdict, "bad")
            results, pressure, end = simulated.run(
                flow,
                header,
                operator_id=operator,
                started=start,
                profile=profile,
                seed=device.id * 1000 + days_ago,
            )
            report = TestReport(
                test_scenario_id=scenario.id if scenario else None,
                device_id=device.id,
                operator_id=operator,
                customer_id=device.customer_id,
                start_time=start,
                end_time=end,
                status="failed" if results["verdict"] == "failed" else "completed",
                results=results,
                pressure_data=pressure,
            )
            verdict = results["verdict"]
            session.add(report)
            session.flush()
            session.add(TestReportSeal(report_id=report.id, sha256=reports.fingerprint(report)))
            created += 1
            if verdict != "failed":
                newest = report
        if newest is not None and session.get(DeviceDueDate, device.id) is None:
            session.add(
                DeviceDueDate(
                    device_id=device.id,
                    last_test_at=newest.end_time or newest.start_time,
                    next_due_at=add_months(newest.end_time or newest.start_time, 12),
                    report_id=newest.id,
                    interval_months=12,
                )
            )
            created += 1
    session.flush()
    return created
