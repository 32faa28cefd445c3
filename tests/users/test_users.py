"""Users admin: CRUD, role guards, QR codes and badges, audit rows."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import SystemLog, User
from tests.conftest import add_user, bearer, login


async def _admin(client: httpx.AsyncClient, sessionmaker, roles: list[str] | None = None) -> dict:
    await add_user(sessionmaker, "boss", "admin", roles or ["admin", "operator", "manager"])
    return bearer(await login(client, "boss"))


async def _count(factory: async_sessionmaker[AsyncSession], model: type) -> int:
    async with factory() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_create_list_get_update_deactivate(client: httpx.AsyncClient, sessionmaker) -> None:
    h = await _admin(client, sessionmaker)
    r = await client.post(
        "/api/v1/users",
        headers=h,
        json={
            "username": "op7",
            "email": "op7@example.com",
            "password": "longenough",
            "role": "operator",
            "roles": ["manager"],
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["roles"] == ["operator", "manager"]
    assert "password_hash" not in created and "qr_code" not in created
    assert created["has_qr_code"] is False

    listed = await client.get("/api/v1/users", headers=h, params={"q": "op7"})
    assert listed.headers["X-Total-Count"] == "1"
    assert [u["username"] for u in listed.json()] == ["op7"]
    by_role = await client.get("/api/v1/users", headers=h, params={"role": "manager"})
    assert {u["username"] for u in by_role.json()} == {"boss", "op7"}
    page = await client.get("/api/v1/users", headers=h, params={"limit": 1, "skip": 1})
    assert len(page.json()) == 1 and page.headers["X-Total-Count"] == "2"

    r = await client.patch(
        f"/api/v1/users/{created['id']}", headers=h, json={"email": "new@example.com"}
    )
    assert r.status_code == 200 and r.json()["email"] == "new@example.com"
    assert r.json()["roles"] == ["operator", "manager"]

    op_tokens = await login(client, "op7", "longenough")
    r = await client.delete(f"/api/v1/users/{created['id']}", headers=h)
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert (await client.get("/api/v1/auth/me", headers=bearer(op_tokens))).status_code == 401
    inactive = await client.get("/api/v1/users", headers=h, params={"is_active": False})
    assert [u["username"] for u in inactive.json()] == ["op7"]

    async with sessionmaker() as session:
        actions = (
            await session.scalars(
                select(SystemLog.action)
                .where(SystemLog.action.like("user.%"))
                .order_by(SystemLog.id)
            )
        ).all()
        update_row = await session.scalar(
            select(SystemLog).where(SystemLog.action == "user.update").order_by(SystemLog.id)
        )
    assert actions == ["user.create", "user.update", "user.update"]
    assert update_row.details["changed"] == {
        "email": {"old": "op7@example.com", "new": "new@example.com"}
    }


async def test_bad_input_writes_nothing(client: httpx.AsyncClient, sessionmaker) -> None:
    h = await _admin(client, sessionmaker)
    before = await _count(sessionmaker, User)
    bad_bodies = [
        {"username": "x", "password": "short", "role": "operator"},
        {"username": "x", "password": "longenough", "role": "king"},
        {"username": "x", "password": "longenough", "role": "operator", "roles": ["god"]},
        {"username": "x" * 101, "password": "longenough", "role": "operator"},
        {"username": "x", "password": "longenough", "role": "operator", "email": "not-mail"},
        {
            "username": "x",
            "password": "longenough",
            "role": "operator",
            "email": ("a" * 250) + "@example.com",
        },
        {"username": "x y", "password": "longenough", "role": "operator"},
        {"username": "x", "password": "é" * 40, "role": "operator"},
        {"username": "x", "password": "longenough", "role": "operator", "is_admin": True},
    ]
    for body in bad_bodies:
        r = await client.post("/api/v1/users", headers=h, json=body)
        assert r.status_code == 422, (body, r.text)
    r = await client.post(
        "/api/v1/users", headers={**h, "Content-Type": "application/json"}, content=b"{oops"
    )
    assert r.status_code == 422
    assert await _count(sessionmaker, User) == before
    assert (await client.get("/api/v1/users/999999", headers=h)).status_code == 404
    assert (await client.get("/api/v1/users/abc", headers=h)).status_code == 422
    assert (await client.get("/api/v1/users", headers=h, params={"limit": 501})).status_code == 422
    assert (await client.get("/api/v1/users", headers=h, params={"skip": -1})).status_code == 422


async def test_duplicates_are_409(client: httpx.AsyncClient, sessionmaker) -> None:
    h = await _admin(client, sessionmaker)
    await add_user(sessionmaker, "taken", "operator", email="taken@example.com")
    r = await client.post(
        "/api/v1/users",
        headers=h,
        json={"username": "taken", "password": "longenough", "role": "operator"},
    )
    assert r.status_code == 409
    r = await client.post(
        "/api/v1/users",
        headers=h,
        json={
            "username": "fresh",
            "password": "longenough",
            "role": "operator",
            "email": "taken@example.com",
        },
    )
    assert r.status_code == 409
    fresh = await client.post(
        "/api/v1/users",
        headers=h,
        json={"username": "fresh", "password": "longenough", "role": "operator"},
    )
    r = await client.patch(
        f"/api/v1/users/{fresh.json()['id']}", headers=h, json={"email": "taken@example.com"}
    )
    assert r.status_code == 409
    async with sessionmaker() as session:
        audited = (
            await session.scalars(select(SystemLog.action).where(SystemLog.action.like("user.%")))
        ).all()
    assert audited == ["user.create"]  # the refused requests left no audit rows behind


async def test_nobody_raises_his_own_roles_or_grants_what_he_lacks(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    h = await _admin(client, sessionmaker, ["admin", "operator"])
    me = (await client.get("/api/v1/auth/me", headers=h)).json()
    r = await client.patch(
        f"/api/v1/users/{me['id']}", headers=h, json={"roles": ["admin", "operator", "manager"]}
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/users",
        headers=h,
        json={"username": "newmaker", "password": "longenough", "role": "maker"},
    )
    assert r.status_code == 403
    # narrowing is fine, and deactivating oneself is refused
    r = await client.patch(f"/api/v1/users/{me['id']}", headers=h, json={"is_active": False})
    assert r.status_code == 409
    r = await client.patch(f"/api/v1/users/{me['id']}", headers=h, json={"email": "b@example.com"})
    assert r.status_code == 200


async def test_password_change_ends_sessions_and_new_password_works(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    h = await _admin(client, sessionmaker)
    target = await add_user(sessionmaker, "op", "operator")
    op = await login(client, "op")
    r = await client.patch(
        f"/api/v1/users/{target.id}", headers=h, json={"password": "brand-new-pass"}
    )
    assert r.status_code == 200
    assert (await client.get("/api/v1/auth/me", headers=bearer(op))).status_code == 401
    await login(client, "op", "brand-new-pass")
    async with sessionmaker() as session:
        row = await session.scalar(select(SystemLog).where(SystemLog.action == "user.update"))
    assert "brand-new-pass" not in str(row.details)


async def test_qr_code_regenerate_badge_and_login(client: httpx.AsyncClient, sessionmaker) -> None:
    h = await _admin(client, sessionmaker)
    target = await add_user(sessionmaker, "op", "operator")
    assert (await client.get(f"/api/v1/users/{target.id}/badge", headers=h)).status_code == 404
    first = (await client.post(f"/api/v1/users/{target.id}/qr-code", headers=h)).json()["qr_code"]
    second = (await client.post(f"/api/v1/users/{target.id}/qr-code", headers=h)).json()["qr_code"]
    assert first != second and len(second) >= 40
    assert (await client.get(f"/api/v1/users/{target.id}/qr-code", headers=h)).json()[
        "qr_code"
    ] == second
    png = await client.get(f"/api/v1/users/{target.id}/badge", headers=h)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = await client.get(f"/api/v1/users/{target.id}/badge", headers=h, params={"format": "svg"})
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    bad = await client.get(f"/api/v1/users/{target.id}/badge", headers=h, params={"format": "gif"})
    assert bad.status_code == 422
    old = await client.post("/api/v1/auth/login/qr", json={"qr_code": first})
    assert old.status_code == 401
    ok = await client.post("/api/v1/auth/login/qr", json={"qr_code": second})
    assert ok.status_code == 200 and ok.json()["user"]["username"] == "op"
    listed = await client.get("/api/v1/users", headers=h)
    assert second not in listed.text
