"""Failure statistics equal a hand-counted fixture exactly. The reports go in through the same
hook the run engine calls when a test finishes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import (
    TestReport,
    WorkshopPart,
    WorkshopPartUsage,
    WorkshopRepairOrder,
    WorkshopStockLot,
)
from fleet.workshop import hooks
from tests.factories import add_customer, add_device
from tests.workshop.conftest import W

V, L, F = "Visual inspection", "Leak test", "Flow test"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (device, date, failed, {step: result}); in time order
REPORTS: list[tuple[str, str, bool, dict[str, str]]] = [
    ("S1", "2025-12-20", True, {V: "passed", F: "failed"}),  # before the period
    ("M1", "2026-01-10", True, {V: "passed", L: "failed"}),
    ("M1", "2026-01-12", False, {V: "passed", L: "passed"}),
    ("M2", "2026-02-01", False, {V: "passed", L: "passed"}),
    ("S1", "2026-02-19", True, {V: "passed", F: "failed"}),
    ("M1", "2026-03-10", True, {V: "passed", L: "failed"}),
    ("M2", "2026-04-01", True, {V: "passed", L: "failed"}),
    ("M1", "2026-05-09", True, {V: "failed", L: "skipped"}),
    ("S1", "2026-06-30", False, {V: "passed", F: "passed"}),
    ("M2", "2026-07-02", True, {V: "passed", L: "failed"}),  # after the period
]
PERIOD = {"from": "2026-01-01T00:00:00Z", "to": "2026-07-01T00:00:00Z"}

# Hand-counted from REPORTS. MTBF: gaps between consecutive failures of one item, for the
# failures in the period that had an earlier one: M1 01-10 -> 03-10 = 59 d, 03-10 -> 05-09 =
# 60 d; S1 2025-12-20 -> 02-19 = 61 d; M2's 04-01 failure has no earlier one.
EXPECTED: dict[str, list[tuple[str, int | None, int | None, float | None, float | None]]] = {
    "device_type": [("mask_tester", 8, 5, 0.625, 60.0)],
    "kind_of_device": [
        ("full_face_mask", 6, 4, 0.6667, 59.5),
        ("scba_set", 2, 1, 0.5, 61.0),
    ],
    "customer": [("A", 6, 4, 0.6667, 60.0), ("B", 2, 1, 0.5, None)],
    "step": [(L, 5, 3, 0.6, None), (F, 2, 1, 0.5, None), (V, 8, 1, 0.125, None)],
}


@pytest.fixture
async def history(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    a = await add_customer(sessionmaker, name="A")
    b = await add_customer(sessionmaker, name="B")
    devices = {
        "M1": await add_device(
            sessionmaker, "M1", customer_id=a, kind="full_face_mask", serial=True
        ),
        "M2": await add_device(
            sessionmaker, "M2", customer_id=b, kind="full_face_mask", serial=True
        ),
        "S1": await add_device(sessionmaker, "S1", kind="scba_set", customer_id=a, serial=True),
    }
    customers = {devices["M1"]: a, devices["S1"]: a, devices["M2"]: b}
    for number, day, failed, steps in REPORTS:
        async with sessionmaker() as session, session.begin():
            device = devices[number]
            report = TestReport(
                device_id=device,
                customer_id=customers[device],
                start_time=at(day),
                end_time=at(day),
                status="failed" if failed else "completed",
                results={
                    "scenario": {"kind_of_test": "yearly"},
                    "verdict": "failed" if failed else "passed",
                    "steps": [
                        {"step_order": i, "step_name": name, "result": result}
                        for i, (name, result) in enumerate(steps.items(), start=1)
                    ],
                },
            )
            session.add(report)
            await session.flush()
            await hooks.test_finished(session, report, None)
    async with sessionmaker() as session, session.begin():
        parts = {n: WorkshopPart(part_number=n, name=f"Part {n}", fits=[]) for n in ("P1", "P2")}
        session.add_all(parts.values())
        await session.flush()
        lots = {
            n: WorkshopStockLot(part_id=p.id, lot_number="L", quantity=0) for n, p in parts.items()
        }
        session.add_all(lots.values())
        first = WorkshopRepairOrder(device_id=devices["M1"], state="done", failed_steps=[])
        second = WorkshopRepairOrder(device_id=devices["M2"], state="done", failed_steps=[])
        session.add_all([first, second])
        await session.flush()
        for order, name, qty, day in (
            (first, "P1", 2, "2026-01-11"),
            (second, "P1", 1, "2026-03-11"),
            (second, "P2", 4, "2026-03-11"),
            (second, "P2", 1, "2026-08-01"),  # after the period
        ):
            session.add(
                WorkshopPartUsage(
                    order_id=order.id,
                    part_id=parts[name].id,
                    lot_id=lots[name].id,
                    quantity=qty,
                    fitted_at=at(day),
                )
            )
    return {"a": a, "b": b}


@pytest.mark.parametrize("group_by", list(EXPECTED))
async def test_statistics_match_the_hand_count(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
    history: dict[str, Any],
    group_by: str,
) -> None:
    r = await client.get(
        f"{W}/statistics", headers=role_headers["manager"], params={**PERIOD, "group_by": group_by}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["tests"], body["failures"], body["failure_rate"]) == (8, 5, 0.625)
    got = [
        (row["label"], row["tests"], row["failures"], row["failure_rate"], row["mtbf_days"])
        for row in body["rows"]
    ]
    assert got == EXPECTED[group_by]
    assert [(p["part_number"], p["quantity"], p["orders"]) for p in body["top_parts"]] == [
        ("P2", 4, 1),
        ("P1", 3, 2),
    ]


async def test_statistics_by_part_and_bad_input(
    client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]], history: dict[str, Any]
) -> None:
    h = role_headers["manager"]
    r = await client.get(f"{W}/statistics", headers=h, params={**PERIOD, "group_by": "part"})
    assert [(x["key"], x["parts_replaced"]) for x in r.json()["rows"]] == [("P2", 4), ("P1", 3)]
    r = await client.get(f"{W}/statistics", headers=h, params={"group_by": "colour"})
    assert r.status_code == 422
    r = await client.get(
        f"{W}/statistics", headers=h, params={"from": PERIOD["to"], "to": PERIOD["from"]}
    )
    assert r.status_code == 422
    r = await client.get(f"{W}/statistics", headers=role_headers["admin"])
    assert r.status_code == 403


async def test_a_period_not_on_month_bounds(
    client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]], history: dict[str, Any]
) -> None:
    # 2026-01-11 up to and including 2026-05-09: whole months Feb-Apr from the monthly totals,
    # 11-31 January and 1-9 May from the daily ones
    params = {"from": "2026-01-11T00:00:00Z", "to": "2026-05-09T12:00:00Z"}
    r = await client.get(
        f"{W}/statistics",
        headers=role_headers["manager"],
        params={**params, "group_by": "kind_of_device"},
    )
    body = r.json()
    assert (body["tests"], body["failures"]) == (6, 4)
    assert body["date_from"].startswith("2026-01-11") and body["date_to"].startswith("2026-05-10")
    got = [
        (row["label"], row["tests"], row["failures"], row["failure_rate"], row["mtbf_days"])
        for row in body["rows"]
    ]
    assert got == [("full_face_mask", 5, 3, 0.6, 59.5), ("scba_set", 1, 1, 1.0, 61.0)]
    assert [(p["part_number"], p["quantity"]) for p in body["top_parts"]] == [("P2", 4), ("P1", 3)]
