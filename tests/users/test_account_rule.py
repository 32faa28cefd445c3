"""The account rule: nobody takes over, or grants, a role he does not hold.

Every (actor role, target role) pair, on SQLite and PostgreSQL: changing, resetting the
password or badge of, reading the badge of, deactivating or re-roling another account works
only when the actor holds every role that account holds. ``holds`` follows the account table
(an admin holds ``operator`` and ``manager``); ``superuser`` only a superuser holds.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fleet.auth.roles import ROLES
from tests.conftest import add_user, bearer, login

ADMIN_AREA = ("admin", "superuser", "maker")

# Written out by hand (README, Accounts), not computed by the code under test.
HELD: dict[str, set[str]] = {
    "admin": {"admin", "operator", "manager"},
    "superuser": {"superuser", "admin", "operator", "manager"},
    "maker": {"maker", "operator", "admin", "manager", "configurator"},
}


async def _operations(
    client: httpx.AsyncClient, h: dict[str, str], target_id: int, role: str
) -> dict[str, int]:
    """Run every account-changing operation on the target; answer the status codes."""
    base = f"/api/v1/users/{target_id}"
    email = {"email": f"t{target_id}@example.com"}
    codes = {
        "email": (await client.patch(base, headers=h, json=email)).status_code,
        "password": (
            await client.patch(base, headers=h, json={"password": "a-new-password"})
        ).status_code,
        "roles": (await client.patch(base, headers=h, json={"roles": [role]})).status_code,
        "qr_regenerate": (await client.post(f"{base}/qr-code", headers=h)).status_code,
        "qr_read": (await client.get(f"{base}/qr-code", headers=h)).status_code,
        "badge": (await client.get(f"{base}/badge", headers=h)).status_code,
        "deactivate": (await client.delete(base, headers=h)).status_code,
    }
    return codes


@pytest.mark.parametrize("actor_role", ROLES)
async def test_every_role_pair(client: httpx.AsyncClient, sessionmaker, actor_role: str) -> None:
    await add_user(sessionmaker, "actor", actor_role)
    h = bearer(await login(client, "actor"))
    for target_role in ROLES:
        target = await add_user(sessionmaker, f"t_{target_role}", target_role, qr_code=None)
        codes = await _operations(client, h, target.id, target_role)
        if actor_role not in ADMIN_AREA:
            expected = 403
        elif target_role in HELD[actor_role]:
            expected = 200
        else:
            expected = 403
        assert set(codes.values()) == {expected}, (actor_role, target_role, codes)
        if expected == 403:
            # nothing was changed: the target still logs in with his old password
            await login(client, f"t_{target_role}")


@pytest.mark.parametrize("actor_role", ADMIN_AREA)
@pytest.mark.parametrize("granted", ROLES)
async def test_grant_compares_roles_added_or_removed(
    client: httpx.AsyncClient, sessionmaker, actor_role: str, granted: str
) -> None:
    """Adding a role to an operator needs only that role; creating needs every role given."""
    await add_user(sessionmaker, "actor", actor_role)
    h = bearer(await login(client, "actor"))
    op = await add_user(sessionmaker, "op", "operator")
    allowed = granted in HELD[actor_role]
    r = await client.patch(
        f"/api/v1/users/{op.id}", headers=h, json={"roles": ["operator", granted]}
    )
    assert r.status_code == (200 if allowed else 403), r.text
    if allowed:
        assert granted in r.json()["roles"]
        r = await client.patch(f"/api/v1/users/{op.id}", headers=h, json={"roles": ["operator"]})
        assert r.status_code == 200 and r.json()["roles"] == ["operator"]
    created = await client.post(
        "/api/v1/users",
        headers=h,
        json={"username": "fresh", "password": "longenough", "role": granted},
    )
    assert created.status_code == (201 if allowed else 403), created.text
    mine = (await client.get("/api/v1/users/grantable-roles", headers=h)).json()["roles"]
    assert set(mine) == HELD[actor_role]
    assert mine == [r for r in ROLES if r in HELD[actor_role]]


async def _demo_like(client: httpx.AsyncClient, sessionmaker) -> dict[str, Any]:
    users = {
        "maker1": await add_user(sessionmaker, "maker1", "maker", list(ROLES)),
        "admin": await add_user(sessionmaker, "admin", "superuser", ["superuser", "admin"]),
        "operator1": await add_user(sessionmaker, "operator1", "operator"),
        "configurator": await add_user(sessionmaker, "configurator", "configurator"),
    }
    return users


async def test_the_reported_takeover_is_refused(client: httpx.AsyncClient, sessionmaker) -> None:
    """The issue's case: ``admin`` (superuser + admin) against ``maker1`` (all six roles)."""
    users = await _demo_like(client, sessionmaker)
    h = bearer(await login(client, "admin"))
    codes = await _operations(client, h, users["maker1"].id, "maker")
    assert set(codes.values()) == {403}, codes
    strip = await client.patch(
        f"/api/v1/users/{users['maker1'].id}", headers=h, json={"roles": ["maker"]}
    )
    assert strip.status_code == 403
    await login(client, "maker1")  # password unchanged, account active
    # ... while adding a role he holds to operator1 works (the grant compares what changes)
    r = await client.patch(
        f"/api/v1/users/{users['operator1'].id}", headers=h, json={"roles": ["operator", "admin"]}
    )
    assert r.status_code == 200 and r.json()["roles"] == ["operator", "admin"]
    r = await client.patch(
        f"/api/v1/users/{users['operator1'].id}",
        headers=h,
        json={"roles": ["operator", "admin", "configurator"]},
    )
    assert r.status_code == 403
    # the configurator account holds a role admin lacks: hands off
    r = await client.delete(f"/api/v1/users/{users['configurator'].id}", headers=h)
    assert r.status_code == 403
    # maker1 holds every role and may change admin's account
    m = bearer(await login(client, "maker1"))
    r = await client.patch(
        f"/api/v1/users/{users['admin'].id}", headers=m, json={"role": "admin", "roles": ["admin"]}
    )
    assert r.status_code == 200 and r.json()["roles"] == ["admin"]


async def test_superuser_accounts_only_by_superusers(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    """A maker without the superuser role reaches every module, yet may not touch superusers."""
    await add_user(sessionmaker, "mk", "maker")
    su = await add_user(sessionmaker, "su", "superuser")
    op = await add_user(sessionmaker, "op", "operator")
    h = bearer(await login(client, "mk"))
    assert set((await _operations(client, h, su.id, "superuser")).values()) == {403}
    r = await client.patch(
        f"/api/v1/users/{op.id}", headers=h, json={"roles": ["operator", "superuser"]}
    )
    assert r.status_code == 403
    s = bearer(await login(client, "su"))
    r = await client.patch(
        f"/api/v1/users/{op.id}", headers=s, json={"roles": ["operator", "superuser"]}
    )
    assert r.status_code == 200


async def test_refused_change_writes_nothing(client: httpx.AsyncClient, sessionmaker) -> None:
    users = await _demo_like(client, sessionmaker)
    h = bearer(await login(client, "admin"))
    before = (await client.get(f"/api/v1/users/{users['maker1'].id}", headers=h)).json()
    r = await client.patch(
        f"/api/v1/users/{users['maker1'].id}",
        headers=h,
        json={"email": "evil@example.com", "password": "takeover-pass", "is_active": False},
    )
    assert r.status_code == 403
    after = (await client.get(f"/api/v1/users/{users['maker1'].id}", headers=h)).json()
    assert after == before
    logs = (await client.get("/api/v1/logs", headers=h, params={"action": "user.update"})).json()
    assert logs == []
