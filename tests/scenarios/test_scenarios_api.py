"""``/api/v1/scenarios``: CRUD, validation, the short form, the legacy step mirror, duplicate,
export/import, and who may do what."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import SystemLog, TestScenario, TestStep
from tests.factories import create_scenario, flow

BASE = "/api/v1/scenarios"


async def _rows(factory: async_sessionmaker[AsyncSession], scenario_id: int) -> list[TestStep]:
    async with factory() as session:
        return list(
            await session.scalars(
                select(TestStep)
                .where(TestStep.scenario_id == scenario_id)
                .order_by(TestStep.step_order)
            )
        )


async def test_roles_read_and_write(
    client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]
) -> None:
    assert (await client.get(BASE)).status_code == 401
    s = await create_scenario(client, role_headers["superuser"])
    for role in ("operator", "manager", "admin"):
        assert (await client.get(BASE, headers=role_headers[role])).status_code == 200
        r = await client.post(
            BASE, headers=role_headers[role], json={"name": "x", "test_flow": flow()}
        )
        assert r.status_code == 403, role
        r = await client.patch(f"{BASE}/{s['id']}", headers=role_headers[role], json={"name": "y"})
        assert r.status_code == 403
        assert (
            await client.delete(f"{BASE}/{s['id']}", headers=role_headers[role])
        ).status_code == 403
    for role in ("superuser", "configurator", "maker"):
        r = await client.post(f"{BASE}/{s['id']}/duplicate", headers=role_headers[role], json={})
        assert r.status_code == 201, role


async def test_create_read_filter_update_delete(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    h = role_headers["superuser"]
    s = await create_scenario(client, h, "Yearly mask")
    assert s["step_count"] == 7 and s["kind_of_test"] == "yearly" and s["interval_months"] == 12
    await create_scenario(client, h, "Sensor check", device_type="pressure_sensor")
    r = await client.get(BASE, headers=h, params={"device_type": "mask_tester"})
    assert [x["name"] for x in r.json()] == ["Yearly mask"] and r.headers["X-Total-Count"] == "1"
    r = await client.get(BASE, headers=h, params={"q": "SENSOR"})
    assert [x["name"] for x in r.json()] == ["Sensor check"]
    r = await client.patch(f"{BASE}/{s['id']}", headers=h, json={"is_active": False})
    assert r.json()["is_active"] is False
    r = await client.get(BASE, headers=h, params={"is_active": "false"})
    assert [x["id"] for x in r.json()] == [s["id"]]
    assert (await client.delete(f"{BASE}/{s['id']}", headers=h)).status_code == 204
    assert (await client.get(f"{BASE}/{s['id']}", headers=h)).status_code == 404
    assert await _rows(sessionmaker, s["id"]) == []
    async with sessionmaker() as session:
        actions = list(await session.scalars(select(SystemLog.action)))
    assert {"scenario.create", "scenario.update", "scenario.delete"} <= set(actions)


async def test_schema_is_published(
    client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]
) -> None:
    r = await client.get(f"{BASE}/schema", headers=role_headers["operator"])
    assert r.status_code == 200
    schema = r.json()
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["$defs"]["criteria"]) == {
        "boolean",
        "range",
        "target_tolerance",
        "max_loss_percent",
        "max_loss_rate",
        "settled",
    }


async def test_short_form_is_accepted_and_read_canonical(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    short = {
        "steps": [
            {"step": 1, "action": "initialize", "params": {}},
            {"step": 2, "action": "calibrate", "params": {"pressure": 100}},
            {"step": 3, "action": "test", "params": {"duration": 60}},
        ]
    }
    s = await create_scenario(client, role_headers["maker"], "Seed style", short)
    step = s["test_flow"]["steps"][1]
    assert step == {
        "step_order": 2,
        "step_name": "Calibrate",
        "action": "calibrate",
        "auto_test": False,
        "operator_participation": True,
        "parameters": {"pressure": 100},
        "criteria": {"type": "boolean"},
        "required": True,
    }
    # a short-form flow stored straight in the table (as the seed has it) is read the same
    async with sessionmaker() as session, session.begin():
        raw = TestScenario(name="raw seed", device_type="mask_tester", test_flow=short)
        session.add(raw)
    r = await client.get(f"{BASE}/{raw.id}", headers=role_headers["operator"])
    assert r.json()["test_flow"]["steps"][2]["step_name"] == "Test"


def _errors(r: httpx.Response) -> list[dict[str, Any]]:
    assert r.status_code == 422, r.text
    errors: list[dict[str, Any]] = r.json()["detail"]["errors"]
    return errors


async def test_invalid_flows_say_where(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    h = role_headers["superuser"]

    async def post(test_flow: Any) -> httpx.Response:
        return await client.post(BASE, headers=h, json={"name": "bad", "test_flow": test_flow})

    f = flow()
    f["steps"][3]["action"] = "dance"
    assert any(e["path"] == "/test_flow/steps/3/action" for e in _errors(await post(f)))
    f = flow()
    f["steps"][1]["criteria"]["type"] = "vibes"
    errs = _errors(await post(f))
    assert errs[0]["path"] == "/test_flow/steps/1/criteria/type" and "vibes" in errs[0]["message"]
    f = flow()
    f["steps"][1]["criteria"].pop("tolerance")
    assert any(
        e["path"] == "/test_flow/steps/1/criteria" and "tolerance" in e["message"]
        for e in _errors(await post(f))
    )
    f = flow()
    f["steps"][2]["step_order"] = 5
    assert any(e["path"] == "/test_flow/steps/2/step_order" for e in _errors(await post(f)))
    f = flow()
    f["steps"][4]["criteria"]["min"] = 9
    assert any("min is greater" in e["message"] for e in _errors(await post(f)))
    f = flow()
    f["steps"][5]["criteria"]["signal"] = "temperature"
    assert _errors(await post(f))
    f = flow()
    f["steps"][0]["criteria"] = {"type": "range", "signal": "flow", "min": 1}
    assert any(e["path"] == "/test_flow/steps/0/auto_test" for e in _errors(await post(f)))
    assert _errors(await post({"steps": []}))
    r = await client.post(
        BASE,
        headers=h,
        content=b'{"name": "x", "test_flow": {"steps": NaN}}',
    )
    assert r.status_code == 422
    async with sessionmaker() as session:
        assert list(await session.scalars(select(TestScenario))) == []
        assert list(await session.scalars(select(TestStep))) == []


async def test_flow_edits_rewrite_the_legacy_rows(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    h = role_headers["superuser"]
    s = await create_scenario(client, h)
    rows = await _rows(sessionmaker, s["id"])
    assert [r.step_order for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[3].criteria == {
        "type": "max_loss_percent",
        "signal": "pressure_low",
        "max_percent": 10,
        "hold_s": 60,
        "marginal": 2,
    }
    assert rows[1].auto_test is True and rows[0].operator_participation is True
    assert rows[1].parameters is not None and rows[1].parameters["action"] == "evacuate"
    f = flow("after_use")
    r = await client.patch(f"{BASE}/{s['id']}", headers=h, json={"test_flow": f})
    assert r.status_code == 200
    rows = await _rows(sessionmaker, s["id"])
    assert [r.step_name for r in rows] == [x["step_name"] for x in f["steps"]]
    legacy = (await client.get(f"{BASE}/{s['id']}/steps", headers=role_headers["operator"])).json()
    assert [x["step_order"] for x in legacy] == [1, 2, 3, 4]


async def test_legacy_step_writes_rewrite_the_flow(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
) -> None:
    h = role_headers["configurator"]
    s = await create_scenario(client, h, test_flow=flow("after_use"))
    url = f"{BASE}/{s['id']}/steps"
    r = await client.post(
        url,
        headers=h,
        json={"step_order": 2, "step_name": "Check straps", "action": "operator_check"},
    )
    assert r.status_code == 201, r.text
    assert [x["step_name"] for x in r.json()][:3] == [
        "Visual inspection",
        "Check straps",
        "Evacuate to -14 mbar",
    ]
    steps = (await client.get(f"{BASE}/{s['id']}", headers=h)).json()["test_flow"]["steps"]
    assert [x["step_order"] for x in steps] == [1, 2, 3, 4, 5] and steps[1][
        "action"
    ] == "operator_check"
    rows = r.json()
    last = rows[-1]
    r = await client.patch(f"{url}/{last['id']}", headers=h, json={"step_order": 1})
    assert r.status_code == 200
    steps = (await client.get(f"{BASE}/{s['id']}", headers=h)).json()["test_flow"]["steps"]
    assert steps[0]["step_name"] == "Clean, disinfect and pack"
    r = await client.patch(
        f"{url}/{r.json()[2]['id']}", headers=h, json={"criteria": {"type": "range", "signal": "x"}}
    )
    assert r.status_code == 422
    current = (await client.get(url, headers=h)).json()
    r = await client.delete(f"{url}/{current[0]['id']}", headers=h)
    assert r.status_code == 200 and len(r.json()) == 4
    steps = (await client.get(f"{BASE}/{s['id']}", headers=h)).json()["test_flow"]["steps"]
    assert [x["step_name"] for x in steps] == [x["step_name"] for x in r.json()]
    other = await create_scenario(client, h, "other", flow("after_use"))
    r = await client.delete(f"{BASE}/{other['id']}/steps/{current[1]['id']}", headers=h)
    assert r.status_code == 404


async def test_duplicate_export_import(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
) -> None:
    h = role_headers["maker"]
    s = await create_scenario(client, h, "Maker B", flow("maker_b"))
    dup = (await client.post(f"{BASE}/{s['id']}/duplicate", headers=h, json={})).json()
    assert dup["name"] == "Maker B (copy)" and dup["test_flow"] == s["test_flow"]
    doc = (await client.get(f"{BASE}/{s['id']}/export", headers=h)).json()
    assert doc["format"] == "fleet.scenario/1" and doc["test_flow"]["maker"] == "Maker B"
    everything = (await client.get(f"{BASE}/export", headers=h)).json()
    assert len(everything) == 2
    bad = {**doc, "name": "broken", "test_flow": {"steps": [{"step": 1, "action": "nope"}]}}
    r = await client.post(
        f"{BASE}/import", headers=h, json={"scenarios": [{**doc, "name": "fine"}, bad]}
    )
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["path"].startswith("/scenarios/1/test_flow/steps/0")
    assert (await client.get(BASE, headers=h)).headers["X-Total-Count"] == "2"
    r = await client.post(f"{BASE}/import", headers=h, json={"scenarios": [{**doc, "name": "In"}]})
    assert r.status_code == 201 and r.json()[0]["test_flow"] == s["test_flow"]
    assert (
        await client.post(
            f"{BASE}/import", headers=role_headers["operator"], json={"scenarios": [doc]}
        )
    ).status_code == 403


async def test_validate_without_saving(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
) -> None:
    h = role_headers["superuser"]
    f = flow()
    f["steps"][2]["criteria"]["band"] = -1
    r = await client.post(f"{BASE}/validate", headers=h, json={"test_flow": f})
    assert r.status_code == 200 and r.json()["valid"] is False
    assert r.json()["errors"][0]["path"] == "/steps/2/criteria/band"
    r = await client.post(
        f"{BASE}/validate",
        headers=h,
        json={"test_flow": {"steps": [{"step": 1, "action": "test"}]}},
    )
    assert r.json()["valid"] is True and r.json()["test_flow"]["steps"][0]["step_order"] == 1
    assert (
        await client.post(
            f"{BASE}/validate", headers=role_headers["operator"], json={"test_flow": f}
        )
    ).status_code == 403
    assert (await client.get(BASE, headers=h)).headers["X-Total-Count"] == "0"
