"""Token checks, refresh rotation with reuse detection, logout and role switching."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import RefreshToken, User
from tests.conftest import add_user, bearer, login

SECRET = "test-secret-key-that-is-long-enough-for-hs256"


async def test_no_or_garbage_token_is_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    r = await client.get("/api/v1/auth/me", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


async def test_expired_forged_and_alg_none_tokens_are_401(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    await add_user(sessionmaker, "op", "operator")
    tokens = await login(client, "op")
    claims = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"])
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = jwt.encode(
        {**claims, "iat": past - timedelta(hours=1), "exp": past}, SECRET, algorithm="HS256"
    )
    forged = jwt.encode(
        {**claims, "role": "maker"}, "another-secret-another-secret-1234", algorithm="HS256"
    )

    def b64(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    none_alg = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    for token, detail in [
        (expired, "Token expired"),
        (forged, "Invalid token"),
        (none_alg, "Invalid token"),
    ]:
        r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert r.json()["detail"] == detail


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, sessionmaker
) -> None:
    await add_user(sessionmaker, "op", "operator")
    first = await login(client, "op")
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v1/auth/me", headers=bearer(second))).status_code == 200

    reuse = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reuse.status_code == 401
    # The whole login is dead now: the newer refresh token and the access tokens too.
    again = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert again.status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=bearer(second))).status_code == 401
    # Another login of the same user is untouched.
    other = await login(client, "op")
    assert (await client.get("/api/v1/auth/me", headers=bearer(other))).status_code == 200


async def test_refresh_rejects_unknown_and_expired(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessionmaker, "op", "operator")
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"})
    ).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={})).status_code == 422
    tokens = await login(client, "op")
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    assert r.json()["detail"] == "Refresh token expired"


async def test_logout_kills_access_and_refresh(client: httpx.AsyncClient, sessionmaker) -> None:
    await add_user(sessionmaker, "op", "operator")
    tokens = await login(client, "op")
    r = await client.post(
        "/api/v1/auth/logout",
        headers=bearer(tokens),
        json={"refresh_token": tokens["refresh_token"]},
    )
    assert r.status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=bearer(tokens))).status_code == 401
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401
    assert (await client.post("/api/v1/auth/logout")).status_code == 401


async def test_switch_role_only_to_own_roles(client: httpx.AsyncClient, sessionmaker) -> None:
    await add_user(sessionmaker, "multi", "operator", ["operator", "maker"])
    tokens = await login(client, "multi")
    assert tokens["user"]["active_role"] == "operator"
    assert (await client.get("/api/v1/users", headers=bearer(tokens))).status_code == 403
    denied = await client.post(
        "/api/v1/auth/switch-role", headers=bearer(tokens), json={"new_role": "admin"}
    )
    assert denied.status_code == 403
    bogus = await client.post(
        "/api/v1/auth/switch-role", headers=bearer(tokens), json={"new_role": "x" * 60}
    )
    assert bogus.status_code == 422
    r = await client.post(
        "/api/v1/auth/switch-role", headers=bearer(tokens), json={"new_role": "maker"}
    )
    assert r.status_code == 200
    switched = r.json()
    assert switched["user"]["active_role"] == "maker"
    me = (await client.get("/api/v1/auth/me", headers=bearer(switched))).json()
    assert me["active_role"] == "maker" and "FSM" in me["modules"]
    assert (await client.get("/api/v1/users", headers=bearer(switched))).status_code == 200
    # the tokens of the old role are finished
    assert (await client.get("/api/v1/auth/me", headers=bearer(tokens))).status_code == 401


async def test_changes_in_the_database_apply_at_once(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    user = await add_user(sessionmaker, "boss", "admin", ["admin", "operator"])
    tokens = await login(client, "boss")
    assert (await client.get("/api/v1/users", headers=bearer(tokens))).status_code == 200
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(User).where(User.id == user.id).values(roles=["operator"], role="operator")
        )
    r = await client.get("/api/v1/users", headers=bearer(tokens))
    assert r.status_code == 403
    async with sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
    assert (await client.get("/api/v1/auth/me", headers=bearer(tokens))).status_code == 401
