"""Login by password (form and JSON) and by QR badge."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import SystemLog
from tests.conftest import PASSWORD, add_user, bearer


async def _logs(factory: async_sessionmaker[AsyncSession], action: str) -> list[SystemLog]:
    async with factory() as session:
        return list(
            (
                await session.scalars(
                    select(SystemLog).where(SystemLog.action == action).order_by(SystemLog.id)
                )
            ).all()
        )


async def test_form_login_answers_contract_shape(client: httpx.AsyncClient, sessionmaker) -> None:
    await add_user(sessionmaker, "maker1", "maker", ["maker", "operator"], email="m@example.com")
    r = await client.post("/api/v1/auth/login", data={"username": "maker1", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    assert body["user"] == {
        "id": body["user"]["id"],
        "username": "maker1",
        "email": "m@example.com",
        "role": "maker",
        "roles": ["maker", "operator"],
        "active_role": "maker",
    }
    me = await client.get("/api/v1/auth/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.json()["modules"] == ["CPP", "CM", "FDM", "FCM", "FSM", "FWM", "ADMIN"]
    [row] = await _logs(sessionmaker, "auth.login")
    assert row.ip_address == "10.1.2.3"
    assert row.details == {"method": "password", "active_role": "maker"}


async def test_json_login_works_too(client: httpx.AsyncClient, sessionmaker) -> None:
    await add_user(sessionmaker, "op", "operator")
    r = await client.post("/api/v1/auth/login", json={"username": "op", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["user"]["active_role"] == "operator"


async def test_unknown_user_and_wrong_password_look_the_same(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    await add_user(sessionmaker, "op", "operator")
    wrong = await client.post(
        "/api/v1/auth/login", json={"username": "op", "password": "nope-nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/login", json={"username": "ghost", "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Incorrect username or password"}
    failures = await _logs(sessionmaker, "auth.login_failed")
    assert [f.details["username"] for f in failures] == ["op", "ghost"]
    assert all(
        "password" not in str(f.details).replace("'method': 'password'", "") for f in failures
    )


async def test_inactive_user_cannot_log_in(client: httpx.AsyncClient, sessionmaker) -> None:
    await add_user(sessionmaker, "gone", "operator", is_active=False)
    r = await client.post("/api/v1/auth/login", json={"username": "gone", "password": PASSWORD})
    assert r.status_code == 401


async def test_malformed_login_bodies_are_4xx(client: httpx.AsyncClient, sessionmaker) -> None:
    cases = [
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"content": b"[1,2]", "headers": {"Content-Type": "application/json"}},
        {"json": {"username": "x"}},
        {"json": {"username": 5, "password": ["a"]}},
        {"json": {"username": "x" * 101, "password": "y"}},
        {"data": {"username": "x"}},
    ]
    for kwargs in cases:
        r = await client.post("/api/v1/auth/login", **kwargs)
        assert r.status_code == 422, (kwargs, r.text)
        assert "detail" in r.json()
    assert await _logs(sessionmaker, "auth.login_failed") == []


async def test_overlong_password_is_a_plain_failure(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    await add_user(sessionmaker, "op", "operator")
    r = await client.post("/api/v1/auth/login", json={"username": "op", "password": "é" * 100})
    assert r.status_code == 401


async def test_qr_login(client: httpx.AsyncClient, sessionmaker) -> None:
    await add_user(
        sessionmaker, "op", "operator", qr_code="FLQR-abcdefghijklmnopqrstuvwxyz0123456789"
    )
    ok = await client.post(
        "/api/v1/auth/login/qr", json={"qr_code": "FLQR-abcdefghijklmnopqrstuvwxyz0123456789"}
    )
    assert ok.status_code == 200
    assert ok.json()["user"]["username"] == "op"
    bad = await client.post("/api/v1/auth/login/qr", json={"qr_code": "FLQR-guess"})
    assert bad.status_code == 401
    empty = await client.post("/api/v1/auth/login/qr", json={"qr_code": ""})
    assert empty.status_code == 422
    [failure] = await _logs(sessionmaker, "auth.login_failed")
    assert failure.details == {"username": None, "method": "qr"}


async def test_qr_login_refused_for_deactivated_user(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    await add_user(sessionmaker, "op", "operator", qr_code="FLQR-x1", is_active=False)
    r = await client.post("/api/v1/auth/login/qr", json={"qr_code": "FLQR-x1"})
    assert r.status_code == 401
