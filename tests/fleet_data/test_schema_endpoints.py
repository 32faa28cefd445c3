"""The schemas the FDM forms are made from: the contact fields and a device type's template."""

from __future__ import annotations

import httpx


async def test_contact_and_config_schemas(
    client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]
) -> None:
    h = role_headers["manager"]
    contact = (await client.get("/api/v1/fleet-data/customers/contact-schema", headers=h)).json()
    assert contact["properties"]["email"]["format"] == "email"
    assert set(contact["properties"]) == {"phone", "email", "address", "company", "notes"}
    none = await client.get("/api/v1/fleet-data/device-types/nothing_here/config-schema", headers=h)
    assert none.status_code == 200 and none.json() == {"schema": None, "default_values": None}
    cfg = role_headers["configurator"]
    body = {
        "name": "Sensor cfg",
        "template_type": "device_config",
        "category": "e2e_sensor",
        "schema": {"type": "object", "properties": {"rate": {"type": "integer", "minimum": 1}}},
        "default_values": {"rate": 5},
    }
    r = await client.post("/api/v1/fleet-config/json-templates", headers=cfg, json=body)
    assert r.status_code == 201, r.text
    got = (
        await client.get("/api/v1/fleet-data/device-types/e2e_sensor/config-schema", headers=h)
    ).json()
    assert got["schema"]["properties"]["rate"]["minimum"] == 1 and got["default_values"] == {
        "rate": 5
    }
    assert (await client.get("/api/v1/fleet-data/customers/contact-schema")).status_code == 401
