"""Who reaches what: no token → 401 everywhere; each role only the modules of PRODUCT.md."""

from __future__ import annotations

import re

import httpx

from fleet.auth.roles import MODULE_ROLES, ROLES

# Endpoints that answer without a bearer token on purpose.
PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/login/qr"),
    ("POST", "/api/v1/auth/refresh"),
    # UI text bundles: the login page is translated before anyone signs in.
    ("GET", "/api/v1/i18n"),
    ("GET", "/api/v1/i18n/{language}"),
}

# (method, path, module) for the foundation's protected endpoints; each module adds its own
# matrix next to its tests.
MATRIX = [
    ("GET", "/api/v1/users", "ADMIN"),
    ("POST", "/api/v1/users", "ADMIN"),
    ("GET", "/api/v1/users/999999", "ADMIN"),
    ("PATCH", "/api/v1/users/999999", "ADMIN"),
    ("DELETE", "/api/v1/users/999999", "ADMIN"),
    ("POST", "/api/v1/users/999999/qr-code", "ADMIN"),
    ("GET", "/api/v1/users/999999/qr-code", "ADMIN"),
    ("GET", "/api/v1/users/999999/badge", "ADMIN"),
    ("GET", "/api/v1/logs", "ADMIN"),
    ("GET", "/api/v1/auth/me", "CPP"),
    ("POST", "/api/v1/logs", "CPP"),
]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_api_route_needs_a_token(app, client: httpx.AsyncClient) -> None:
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method in operations:
            if (method.upper(), path) in PUBLIC:
                continue
            r = await client.request(method.upper(), _concrete(path))
            assert r.status_code == 401, f"{method} {path} answered {r.status_code}"
            checked += 1
    assert checked >= len(MATRIX)


async def test_role_matrix(client: httpx.AsyncClient, role_headers) -> None:
    for method, path, module in MATRIX:
        for role in ROLES:
            r = await client.request(
                method,
                path,
                headers=role_headers[role],
                json={} if method in ("POST", "PATCH") else None,
            )
            if role in MODULE_ROLES[module]:
                assert r.status_code != 403, f"{role} refused on {method} {path}"
                assert r.status_code != 401
            else:
                assert r.status_code == 403, f"{role} reached {method} {path}: {r.status_code}"
