"""JSON templates: real Draft 2020-12 schemas, defaults that validate, /validate with paths."""

from __future__ import annotations

import httpx

from fleet.validation import check_template
from tests.config.conftest import API

URL = f"{API}/json-templates"
FLOW = {
    "name": "Mask tester flow",
    "template_type": "test_flow",
    "category": "mask_tester",
    "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["steps"],
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["step_name"],
                    "properties": {
                        "step_name": {"type": "string"},
                        "parameters": {"type": "object"},
                    },
                },
            }
        },
    },
    "default_values": {"steps": [{"step_name": "Visual inspection"}]},
}


async def test_crud_filters_and_validate(client: httpx.AsyncClient, cfg: dict[str, str]) -> None:
    r = await client.post(URL, json=FLOW, headers=cfg)
    assert r.status_code == 201, r.text
    tpl = r.json()
    assert tpl["schema"]["required"] == ["steps"] and tpl["is_active"] is True
    other = {
        **FLOW,
        "name": "Sensor",
        "template_type": "device_config",
        "category": "pressure_sensor",
        "schema": {"type": "object"},
        "default_values": {},
    }
    assert (await client.post(URL, json=other, headers=cfg)).status_code == 201

    r = await client.get(URL, params={"type": "test_flow"}, headers=cfg)
    assert [t["name"] for t in r.json()] == ["Mask tester flow"]
    r = await client.get(
        URL, params={"template_type": "device_config", "category": "pressure_sensor"}, headers=cfg
    )
    assert r.headers["X-Total-Count"] == "1"

    r = await client.post(
        f"{URL}/{tpl['id']}/validate", json={"document": {"steps": [{"step_name": 5}]}}, headers=cfg
    )
    assert r.json() == {
        "valid": False,
        "errors": [{"path": "/steps/0/step_name", "message": "5 is not of type 'string'"}],
    }
    r = await client.post(
        f"{URL}/{tpl['id']}/validate", json={"document": FLOW["default_values"]}, headers=cfg
    )
    assert r.json() == {"valid": True, "errors": []}

    r = await client.patch(
        f"{URL}/{tpl['id']}", json={"default_values": {"steps": []}}, headers=cfg
    )
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["path"] == "/default_values/steps"
    r = await client.patch(
        f"{URL}/{tpl['id']}", json={"is_active": False, "name": "Old"}, headers=cfg
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    r = await client.get(URL, params={"is_active": "false"}, headers=cfg)
    assert [t["name"] for t in r.json()] == ["Old"]
    assert (await client.delete(f"{URL}/{tpl['id']}", headers=cfg)).status_code == 204
    assert (await client.get(f"{URL}/{tpl['id']}", headers=cfg)).status_code == 404


async def test_invalid_schema_and_defaults_are_refused(
    client: httpx.AsyncClient, cfg: dict[str, str]
) -> None:
    r = await client.post(URL, json={**FLOW, "schema": {"type": "no-such-type"}}, headers=cfg)
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["path"].startswith("/schema/type")
    r = await client.post(URL, json={**FLOW, "schema": ["not", "a", "schema"]}, headers=cfg)
    assert r.status_code == 422
    r = await client.post(URL, json={**FLOW, "default_values": {"steps": "none"}}, headers=cfg)
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["path"] == "/default_values/steps"
    r = await client.post(URL, json={k: v for k, v in FLOW.items() if k != "schema"}, headers=cfg)
    assert r.status_code == 422
    assert (await client.get(URL, headers=cfg)).json() == []
    r = await client.post(
        f"{URL}/check", json={"schema": {"minimum": "x"}, "default_values": 1}, headers=cfg
    )
    assert r.json()["valid"] is False and r.json()["errors"][0]["path"] == "/schema/minimum"


async def test_access(client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]) -> None:
    assert (await client.get(URL)).status_code == 401
    op = role_headers["operator"]
    assert (await client.get(URL, headers=op)).status_code == 200
    assert (await client.post(URL, json=FLOW, headers=op)).status_code == 403
    assert (await client.post(URL, json=FLOW, headers=role_headers["superuser"])).status_code == 403


def test_check_template_paths() -> None:
    assert check_template({"type": "object"}, {}) == []
    issues = check_template(
        {"type": "object", "properties": {"a": {"type": "integer"}}}, {"a": "x"}
    )
    assert [i.path for i in issues] == ["/default_values/a"]
