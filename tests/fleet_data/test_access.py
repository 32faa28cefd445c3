"""Who reaches the Fleet Data Manager API: 401 without a token; reads for every signed-in
role; changes, dashboard and import/export only for roles reaching FDM."""

from __future__ import annotations

import httpx

from fleet.auth.roles import ROLES, can_access
from tests.fleet_data.conftest import API

READS = [
    ("GET", "/customers"),
    ("GET", "/customers/999"),
    ("GET", "/devices"),
    ("GET", "/devices/999"),
    ("GET", "/devices/999/history"),
    ("GET", "/device-types"),
]
MANAGE = [
    ("POST", "/customers"),
    ("PATCH", "/customers/999"),
    ("DELETE", "/customers/999"),
    ("POST", "/devices"),
    ("PATCH", "/devices/999"),
    ("DELETE", "/devices/999"),
    ("GET", "/dashboard"),
    ("GET", "/export?entity=devices"),
    ("POST", "/import?entity=devices"),
]


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    for method, path in READS + MANAGE:
        r = await client.request(method, API + path)
        assert r.status_code == 401, (method, path)
    r = await client.get(f"{API}/devices", headers={"Authorization": "Bearer forged.token.x"})
    assert r.status_code == 401


async def test_role_matrix(client: httpx.AsyncClient, role_headers) -> None:
    for role in ROLES:
        headers = role_headers[role]
        for method, path in READS:
            r = await client.request(method, API + path, headers=headers)
            assert r.status_code in (200, 404), (role, method, path, r.status_code)
        for method, path in MANAGE:
            r = await client.request(
                method,
                API + path,
                headers=headers,
                json={} if method in ("POST", "PATCH") else None,
            )
            if can_access(role, "FDM"):
                assert r.status_code != 403, (role, method, path)
            else:
                assert r.status_code == 403, (role, method, path, r.status_code)
    # a successful write by a non-manager FDM role, and none by the operator
    r = await client.post(f"{API}/customers", headers=role_headers["maker"], json={"name": "M"})
    assert r.status_code == 201
    r = await client.post(f"{API}/customers", headers=role_headers["operator"], json={"name": "O"})
    assert r.status_code == 403
    r = await client.get(f"{API}/customers", headers=role_headers["operator"])
    assert [c["name"] for c in r.json()] == ["M"]
