"""Workshop demo data: rules, parts and stock, a failed test with its proposed order, an item in
repair, one test_required, one blocked by a life limit; idempotent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from fleet import demo
from fleet.models import Device, TestReport, WorkshopIntervalRule, WorkshopRepairOrder
from fleet.settings import Settings, sync_database_url
from tests.conftest import bearer, login
from tests.workshop.conftest import W


async def test_demo_workshop(
    settings: Settings, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fleet.software.demo.get_settings", lambda: settings)
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    try:
        with Session(engine) as session:
            first: dict[str, Any] = demo.run(session, 4)
            session.commit()
            second: dict[str, Any] = demo.run(session, 4)
            session.commit()
            assert first["workshop"] > 0 and second["workshop"] == 0
            assert all(r.source_text for r in session.scalars(select(WorkshopIntervalRule)))
            ids: dict[str, int] = {
                n: i for n, i in session.execute(select(Device.device_number, Device.id))
            }
            proposed = session.scalar(
                select(WorkshopRepairOrder).where(WorkshopRepairOrder.state == "proposed")
            )
            assert proposed is not None and proposed.trigger_report_id is not None
            trigger = session.get(TestReport, proposed.trigger_report_id)
            assert trigger is not None and trigger.status == "failed"
            failed = [s for s in trigger.results["steps"] if s["result"] == "failed"]
            assert failed and [s["step_name"] for s in proposed.failed_steps] == [
                s["step_name"] for s in failed
            ]
    finally:
        engine.dispose()
    h = bearer(await login(client, "manager1", "pass"))
    wanted = ["FFM-1002", "SCBA-2001", "FFM-1004", "CYL-5001"]
    r = await client.get(
        f"{W}/readiness", headers=h, params={"device_ids": ",".join(str(ids[n]) for n in wanted)}
    )
    states = {x["device_id"]: x for x in r.json()}
    assert [states[ids[n]]["readiness"] for n in wanted] == [
        "test_required",
        "in_repair",
        "test_required",
        "blocked",
    ]
    assert "life limit" in states[ids["CYL-5001"]]["blocked_reason"]
    parts = (await client.get(f"{W}/parts", headers=h, params={"low_stock": True})).json()
    assert [p["part_number"] for p in parts] == ["VIS-300"]
