"""401 without a token, 403 for every active role but maker (device view: FDM roles too)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import add_devices
from tests.software.conftest import API

ENDPOINTS = [
    ("GET", "/software"),
    ("POST", "/software"),
    ("GET", "/software/1"),
    ("PATCH", "/software/1"),
    ("DELETE", "/software/1"),
    ("GET", "/software/1/versions"),
    ("POST", "/software/1/versions"),
    ("GET", "/versions/1"),
    ("PATCH", "/versions/1"),
    ("DELETE", "/versions/1"),
    ("POST", "/versions/1/artifact"),
    ("GET", "/versions/1/artifact"),
    ("GET", "/installations"),
    ("POST", "/installations"),
    ("GET", "/installations/1"),
    ("PATCH", "/installations/1"),
    ("GET", "/rollouts"),
    ("POST", "/rollouts"),
    ("GET", "/rollouts/1"),
    ("POST", "/rollouts/1/start"),
    ("POST", "/rollouts/1/pause"),
    ("POST", "/rollouts/1/resume"),
    ("POST", "/rollouts/1/cancel"),
    ("GET", "/dashboard/stats"),
    ("GET", "/devices/1/software"),
]
FDM_ROLES = {"manager", "admin", "superuser", "configurator"}


async def test_access_per_role(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await add_devices(sessionmaker, kind="bench")
    for method, path in ENDPOINTS:
        r = await client.request(method, API + path, json={})
        assert r.status_code == 401, (method, path)
        for role, headers in role_headers.items():
            r = await client.request(method, API + path, json={}, headers=headers)
            if role == "maker" or (path == "/devices/1/software" and role in FDM_ROLES):
                assert r.status_code not in (401, 403), (role, method, path, r.status_code)
            else:
                assert r.status_code == 403, (role, method, path, r.status_code)
