"""The retest gate end to end: a failed test proposes a repair, parts come off the stock by lot,
a finished repair needs a passed test after it, a blocked item cannot be tested."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.db import utcnow
from fleet.models import SystemLog
from tests.workshop.conftest import W, make_part, readiness, run_test, start_test


async def test_the_gate(
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    op, mgr, device = shop["op"], shop["mgr"], shop["device"]
    part = await make_part(
        client, mgr, "EVD-1", fits=["full_face_mask"], component="exhalation_valve_disc"
    )
    assert part["stock"] == 5 and part["lots"][0]["lot_number"] == "L1"
    assert await readiness(client, op, device) == "ready"

    failed = await run_test(client, shop, fail=True)
    assert await readiness(client, op, device) == "test_required"
    r = await client.get(f"{W}/repair-orders", headers=op, params={"device_id": device})
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
    order = r.json()[0]
    assert order["state"] == "proposed" and order["origin"] == "failed_test"
    assert order["trigger_report_id"] == failed["id"]
    assert [(x["step_order"], x["step_name"]) for x in order["failed_steps"]] == [
        (1, "Visual inspection")
    ]
    assert order["failed_steps"][0]["reason"]
    assert "step 1 Visual inspection failed" in order["findings"]
    oid = order["id"]
    move = f"{W}/repair-orders/{oid}/transition"

    # operators execute, they do not approve
    assert (await client.post(move, headers=op, json={"state": "open"})).status_code == 403
    assert (await client.post(move, headers=mgr, json={"state": "done"})).status_code == 409
    r = await client.post(move, headers=mgr, json={"state": "open"})
    assert r.status_code == 200 and r.json()["readiness"] == "in_repair"
    r = await client.post(move, headers=op, json={"state": "in_progress"})
    assert r.status_code == 200, r.text

    lot = part["lots"][0]["id"]
    use = f"{W}/repair-orders/{oid}/parts"
    r = await client.post(
        use, headers=op, json={"part_id": part["id"], "lot_id": lot, "quantity": 2}
    )
    assert r.status_code == 201, r.text
    assert r.json()["parts"][0]["lot_number"] == "L1" and r.json()["parts"][0]["quantity"] == 2
    r = await client.post(
        use, headers=op, json={"part_id": part["id"], "lot_id": lot, "quantity": 4}
    )
    assert r.status_code == 409 and "below zero" in r.json()["detail"]
    stock = (await client.get(f"{W}/parts/{part['id']}", headers=op)).json()
    assert stock["stock"] == 3 and stock["lots"][0]["quantity"] == 3
    item = (await client.get(f"{W}/items/{device}", headers=op)).json()
    assert "exhalation_valve_disc" in item["components"]

    assert (await client.post(move, headers=op, json={"state": "done"})).status_code == 422
    r = await client.patch(
        f"{W}/repair-orders/{oid}",
        headers=op,
        json={"work_done": "valve disc replaced", "time_spent_minutes": 25},
    )
    assert r.status_code == 200, r.text
    r = await client.post(move, headers=op, json={"state": "done"})
    assert r.status_code == 200 and r.json()["state"] == "done"
    assert r.json()["readiness"] == "test_required"
    # a done order takes nothing more
    r = await client.post(use, headers=op, json={"part_id": part["id"], "lot_id": lot})
    assert r.status_code == 409

    # readiness is derived: there is no way to set it by hand
    r = await client.put(f"{W}/items/{device}", headers=mgr, json={"readiness": "ready"})
    assert r.status_code == 422
    r = await client.patch(f"{W}/readiness", headers=mgr, json={"device_id": device})
    assert r.status_code == 405
    assert await readiness(client, op, device) == "test_required"

    passed = await run_test(client, shop, fail=False)
    assert await readiness(client, op, device) == "ready"
    order = (await client.get(f"{W}/repair-orders/{oid}", headers=op)).json()
    assert order["release_report_id"] == passed["id"]
    assert order["technician"] == "u_operator" and order["time_spent_minutes"] == 25

    async with sessionmaker() as session:
        actions = set(
            await session.scalars(
                select(SystemLog.action).where(SystemLog.action.like("workshop.%"))
            )
        )
    assert {
        "workshop.order.propose",
        "workshop.order.transition",
        "workshop.order.part_used",
        "workshop.order.update",
        "workshop.part.create",
        "workshop.stock.receive",
    } <= actions


async def test_a_blocked_item_cannot_be_tested(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    mgr, device = shop["mgr"], shop["device"]
    r = await client.post(f"{W}/interval-rules/seed", headers=mgr)
    assert r.status_code == 200 and r.json()["added"] >= 10
    made = (utcnow() - timedelta(days=365 * 10 + 30)).isoformat()
    r = await client.put(f"{W}/items/{device}", headers=mgr, json={"manufactured_on": made})
    assert r.status_code == 200, r.text
    assert r.json()["readiness"] == "blocked"
    assert "life limit 120 months" in r.json()["blocked_reason"]
    # the pages translate the code; the parameters say what the English sentence says
    assert r.json()["reason_code"] == "blocked"
    assert r.json()["reason_params"]["due"]["code"] == "life_limit"
    assert r.json()["reason_params"]["due"]["params"]["months"] == 120
    r = await start_test(client, shop)
    assert r.status_code == 409
    assert "blocked" in r.json()["detail"] and "life limit" in r.json()["detail"]
    # a new item (manufactured recently) is not blocked
    r = await client.put(
        f"{W}/items/{device}", headers=mgr, json={"manufactured_on": utcnow().isoformat()}
    )
    assert r.json()["readiness"] == "ready"
    assert (await start_test(client, shop)).status_code == 201


async def test_an_overdue_component_blocks_and_a_new_part_releases(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    mgr, op, device = shop["mgr"], shop["op"], shop["device"]
    await client.post(f"{W}/interval-rules/seed", headers=mgr)
    fitted = (utcnow() - timedelta(days=365 * 4 + 10)).isoformat()
    r = await client.post(
        f"{W}/items/{device}/components",
        headers=mgr,
        json={"component": "exhalation_valve_disc", "fitted_on": fitted},
    )
    assert r.status_code == 201 and r.json()["readiness"] == "blocked"
    assert "exhalation_valve_disc" in r.json()["blocked_reason"]
    part = await make_part(
        client, mgr, "EVD-2", fits=["full_face_mask"], component="exhalation_valve_disc"
    )
    r = await client.post(f"{W}/repair-orders", headers=mgr, json={"device_id": device})
    assert r.status_code == 201 and r.json()["state"] == "open"
    oid = r.json()["id"]
    assert (
        await client.post(f"{W}/repair-orders", headers=mgr, json={"device_id": device})
    ).status_code == 409
    r = await client.post(
        f"{W}/repair-orders/{oid}/parts",
        headers=op,
        json={"part_id": part["id"], "lot_id": part["lots"][0]["id"], "serial_number": "S-9"},
    )
    assert r.status_code == 201
    assert r.json()["readiness"] == "in_repair"
    # removing the line puts the part back and the old clock runs again
    usage = r.json()["parts"][0]["id"]
    r = await client.delete(f"{W}/repair-orders/{oid}/parts/{usage}", headers=op)
    assert r.status_code == 200 and r.json()["readiness"] == "blocked"
    assert (await client.get(f"{W}/parts/{part['id']}", headers=op)).json()["stock"] == 5
    r = await client.post(
        f"{W}/repair-orders/{oid}/parts",
        headers=op,
        json={"part_id": part["id"], "lot_id": part["lots"][0]["id"]},
    )
    await client.post(
        f"{W}/repair-orders/{oid}/transition", headers=op, json={"state": "in_progress"}
    )
    await client.patch(f"{W}/repair-orders/{oid}", headers=op, json={"work_done": "disc"})
    r = await client.post(f"{W}/repair-orders/{oid}/transition", headers=op, json={"state": "done"})
    assert r.json()["readiness"] == "test_required"


async def test_access(client: httpx.AsyncClient, shop: dict[str, Any]) -> None:
    h = shop["h"]
    assert (await client.get(f"{W}/repair-orders")).status_code == 401
    for role in ("admin", "configurator"):
        assert (await client.get(f"{W}/repair-orders", headers=h[role])).status_code == 403
    for role in ("operator", "manager", "superuser", "maker"):
        assert (await client.get(f"{W}/repair-orders", headers=h[role])).status_code == 200
    body = {"part_number": "X-1", "name": "x"}
    assert (await client.post(f"{W}/parts", headers=h["operator"], json=body)).status_code == 403
    assert (await client.post(f"{W}/parts", headers=h["maker"], json=body)).status_code == 201
    # readiness is for everyone signed in (FDM page, bench)
    r = await client.get(
        f"{W}/readiness", headers=h["admin"], params={"device_ids": str(shop["device"])}
    )
    assert r.status_code == 200
    r = await client.get(f"{W}/readiness", headers=h["admin"], params={"device_ids": "a,b"})
    assert r.status_code == 422
    # bad input writes nothing
    r = await client.post(
        f"{W}/parts", headers=h["maker"], json={"part_number": "X-1", "name": "y"}
    )
    assert r.status_code == 409
    r = await client.post(f"{W}/repair-orders", headers=h["manager"], json={"device_id": 999999})
    assert r.status_code == 422
    r = await client.post(
        f"{W}/interval-rules",
        headers=h["manager"],
        json={
            "name": "x",
            "kind_of_device": "k",
            "kind_of_test": "t",
            "trigger": "fitting",
            "interval_months": 3,
            "source": "manufacturer",
            "source_text": "manual",
        },
    )
    assert r.status_code == 422 and "component" in r.text
    r = await client.post(
        f"{W}/interval-rules/check", headers=h["operator"], json={"name": "x", "trigger": "soon"}
    )
    assert r.status_code == 200 and any("trigger" in e for e in r.json()["errors"])
    schema = (await client.get(f"{W}/interval-rules/schema", headers=h["operator"])).json()
    assert schema["properties"]["trigger"]["enum"] == ["use", "repair", "fitting", "manufacture"]


async def test_recompute_takes_in_tests_older_than_the_workshop(
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    from fleet.models import TestReport

    device = shop["device"]
    async with sessionmaker() as session, session.begin():
        for days, status in ((40, "failed"), (20, "failed")):
            at = utcnow() - timedelta(days=days)
            session.add(
                TestReport(
                    device_id=device,
                    customer_id=shop["customer"],
                    start_time=at,
                    end_time=at,
                    status=status,
                    results={
                        "steps": [{"step_order": 1, "step_name": "Leak test", "result": status}]
                    },
                )
            )
    assert await readiness(client, shop["op"], device) == "ready"  # not seen by the workshop yet
    assert (await client.post(f"{W}/due/recompute", headers=shop["op"])).status_code == 403
    r = await client.post(f"{W}/due/recompute", headers=shop["mgr"])
    assert r.status_code == 200 and r.json()["outcomes"] == 2
    assert await readiness(client, shop["op"], device) == "test_required"
    r = await client.get(f"{W}/statistics", headers=shop["mgr"], params={"group_by": "step"})
    assert [(x["label"], x["tests"], x["failures"]) for x in r.json()["rows"]] == [
        ("Leak test", 2, 2)
    ]
    r = await client.get(f"{W}/statistics", headers=shop["mgr"], params={"group_by": "customer"})
    assert r.json()["rows"][0]["mtbf_days"] == 20.0
    r = await client.post(f"{W}/due/recompute", headers=shop["mgr"])
    assert r.json()["outcomes"] == 0


async def test_a_fitted_parts_own_life_blocks_the_item(
    client: httpx.AsyncClient, shop: dict[str, Any]
) -> None:
    mgr, op, device = shop["mgr"], shop["op"], shop["device"]
    part = await make_part(
        client, mgr, "FLT-1", fits=["full_face_mask"], component="filter_insert", life_months=1
    )
    r = await client.post(f"{W}/repair-orders", headers=mgr, json={"device_id": device})
    oid = r.json()["id"]
    fitted = (utcnow() - timedelta(days=45)).isoformat()
    r = await client.post(
        f"{W}/repair-orders/{oid}/parts",
        headers=op,
        json={"part_id": part["id"], "lot_id": part["lots"][0]["id"], "fitted_at": fitted},
    )
    assert r.status_code == 201
    item = (await client.get(f"{W}/items/{device}", headers=op)).json()
    assert item["readiness"] == "blocked"
    assert "part FLT-1 life 1 months" in item["blocked_reason"]
    assert item["due"][0]["reason_code"] == "part_life"
    assert item["due"][0]["reason_params"]["part_number"] == "FLT-1"
    assert item["due"][0]["reason"] == "part FLT-1 life 1 months from fitting " + (
        item["due"][0]["reason_params"]["anchor"]
    )
    assert [(d["component"], d["kind_of_test"], d["rule_id"]) for d in item["due"]] == [
        ("filter_insert", "end_of_life", None)
    ]
