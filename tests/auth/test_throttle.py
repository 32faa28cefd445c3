"""Failed logins are throttled per username and per client address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import LoginFailure
from tests.conftest import PASSWORD, add_user


async def _try(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )


async def test_five_failures_lock_the_username_even_for_the_right_password(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessionmaker, "op", "operator")
    await add_user(sessionmaker, "other", "operator")
    for _ in range(5):
        assert (await _try(client, "op", "wrong-password")).status_code == 401
    locked = await _try(client, "op", PASSWORD)
    assert locked.status_code == 429
    retry = int(locked.headers["Retry-After"])
    assert 0 < retry <= 15 * 60
    assert (await _try(client, "OP", "wrong-password")).status_code == 429
    assert (await _try(client, "other", PASSWORD)).status_code == 200
    # once the window has passed, the right password works again
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(LoginFailure).values(attempted_at=datetime.now(UTC) - timedelta(minutes=16))
        )
    assert (await _try(client, "op", PASSWORD)).status_code == 200


async def test_unknown_usernames_are_throttled_too(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await _try(client, "ghost", "whatever-pw")).status_code == 401
    assert (await _try(client, "ghost", "whatever-pw")).status_code == 429


async def test_one_address_is_limited_across_usernames_and_qr(
    app, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app.state.settings.login_max_failures_per_ip = 8
    await add_user(sessionmaker, "op", "operator", qr_code="FLQR-good")
    transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for i in range(4):
            assert (await _try(c, f"user{i}", "bad-password")).status_code == 401
        for _ in range(4):
            r = await c.post("/api/v1/auth/login/qr", json={"qr_code": "FLQR-bad"})
            assert r.status_code == 401
        blocked = await c.post("/api/v1/auth/login/qr", json={"qr_code": "FLQR-good"})
        assert blocked.status_code == 429
        assert "address" in blocked.json()["detail"]
        assert (await _try(c, "op", PASSWORD)).status_code == 429
    other = httpx.ASGITransport(app=app, client=("10.9.9.10", 1))
    async with httpx.AsyncClient(transport=other, base_url="http://t") as c:
        assert (await _try(c, "op", PASSWORD)).status_code == 200
