"""The engine against the hand-computed rule reference table, as pure functions and through the
database (records in, stored due dates and derived readiness out); it must match 100 %."""

from __future__ import annotations

from itertools import count

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import (
    Device,
    TestReport,
    WorkshopComponentClock,
    WorkshopDue,
    WorkshopIntervalRule,
    WorkshopItem,
    WorkshopRepairOrder,
    WorkshopTestOutcome,
    WorkshopUse,
)
from fleet.workshop import engine, records
from fleet.workshop.rules import rule_set_rows
from fleet.workshop.schemas import RuleBody
from tests.workshop.reference_cases import CASES, MAKER_RULE, REFERENCE_NOW, Case, d


def _rules() -> list[engine.Rule]:
    rows = [*rule_set_rows(), RuleBody.model_validate(MAKER_RULE).model_dump()]
    return [
        records.to_rule(WorkshopIntervalRule(id=i, **row)) for i, row in enumerate(rows, start=1)
    ]


def _facts(case: Case) -> engine.ItemFacts:
    facts = engine.ItemFacts(
        device_type="mask_tester",
        kind_of_device=case.kind,
        registered_at=d(case.registered),
        manufactured_on=d(case.manufactured) if case.manufactured else None,
        uses=[d(u) for u in case.uses],
        repairs_done=[d(r) for r in case.repairs_done],
        components={c: d(at) for c, at in case.components.items()},
    )
    for at, kind, failed in case.tests:
        if not failed:
            facts.last_passed[kind] = max(facts.last_passed.get(kind, d(at)), d(at))
    return facts


def _expected(case: Case) -> dict[tuple[str, str], tuple[str, str]]:
    return dict(case.due)


@pytest.mark.parametrize("case", CASES, ids=[c.number for c in CASES])
def test_engine_matches_the_table(case: Case) -> None:
    entries = engine.compute_due(_rules(), _facts(case))
    got = {(e.component, e.kind_of_test): (e.due_at.date().isoformat(), e.effect) for e in entries}
    assert got == _expected(case)
    assert all(e.due_at.hour == 0 and e.due_at.minute == 0 for e in entries)
    assert all(e.reason for e in entries)


async def test_database_matches_the_table(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    report_ids = count(1)
    ids: dict[str, int] = {}
    async with sessionmaker() as session, session.begin():
        for row in [*rule_set_rows(), RuleBody.model_validate(MAKER_RULE).model_dump()]:
            session.add(WorkshopIntervalRule(**row))
        for case in CASES:
            device = Device(
                device_number=case.number,
                device_type="mask_tester",
                kind_of_device=case.kind,
                status=case.status,
                created_at=d(case.registered),
            )
            session.add(device)
            await session.flush()
            ids[case.number] = device.id
            if case.manufactured:
                session.add(WorkshopItem(device_id=device.id, manufactured_on=d(case.manufactured)))
            for used in case.uses:
                session.add(WorkshopUse(device_id=device.id, used_at=d(used)))
            for component, fitted in case.components.items():
                session.add(
                    WorkshopComponentClock(
                        device_id=device.id, component=component, fitted_on=d(fitted)
                    )
                )
            for at, kind, failed in case.tests:
                report = TestReport(
                    device_id=device.id,
                    start_time=d(at),
                    end_time=d(at),
                    status="failed" if failed else "completed",
                    results={"verdict": "failed" if failed else "passed", "steps": []},
                )
                session.add(report)
                await session.flush()
                next(report_ids)
                session.add(
                    WorkshopTestOutcome(
                        report_id=report.id,
                        device_id=device.id,
                        device_type="mask_tester",
                        kind_of_device=case.kind,
                        kind_of_test=kind,
                        tested_at=d(at),
                        failed=failed,
                    )
                )
            for finished in case.repairs_done:
                session.add(
                    WorkshopRepairOrder(
                        device_id=device.id, state="done", finished_at=d(finished), failed_steps=[]
                    )
                )
            if case.repair_open:
                session.add(WorkshopRepairOrder(device_id=device.id, state="open", failed_steps=[]))
        await session.flush()
        await records.refresh_due(session, list(ids.values()))
    async with sessionmaker() as session:
        stored: dict[int, dict[tuple[str, str], tuple[str, str]]] = {i: {} for i in ids.values()}
        for row in await session.scalars(select(WorkshopDue)):
            stored[row.device_id][(row.component, row.kind_of_test)] = (
                row.due_at.date().isoformat(),
                row.effect,
            )
        states = await records.readiness_of(session, list(ids.values()), now=REFERENCE_NOW)
    mismatches = []
    for case in CASES:
        device_id = ids[case.number]
        # out of service: the engine stores nothing due for a decommissioned item
        expected = {} if case.status == "decommissioned" else _expected(case)
        if stored[device_id] != expected:
            mismatches.append((case.number, "due", stored[device_id], expected))
        state = states[device_id]
        if state.readiness != case.readiness or case.reason_contains not in (state.reason or ""):
            mismatches.append((case.number, "readiness", state, case.readiness))
    assert mismatches == []
