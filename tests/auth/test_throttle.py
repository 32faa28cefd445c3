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


def _at(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 1))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_failures_elsewhere_do_not_lock_the_user_out_of_his_bench(
    app, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Five wrong passwords from a stranger's address lock only that (user, address) pair;
    the per-username ceiling across addresses is much higher and spares the user's own bench."""
    app.state.settings.login_max_failures_per_user = 12
    await add_user(sessionmaker, "op", "operator")
    async with _at(app, "10.0.0.1") as bench:
        assert (await _try(bench, "op", PASSWORD)).status_code == 200  # his bench
    async with _at(app, "10.6.6.6") as stranger:
        for _ in range(5):
            assert (await _try(stranger, "op", "wrong-password")).status_code == 401
        locked = await _try(stranger, "op", PASSWORD)
        assert locked.status_code == 429 and "this address" in locked.json()["detail"]
    async with _at(app, "10.0.0.1") as bench:
        assert (await _try(bench, "op", PASSWORD)).status_code == 200
    async with _at(app, "10.0.0.2") as elsewhere:  # never used by op, ceiling not reached
        assert (await _try(elsewhere, "op", PASSWORD)).status_code == 200
    # a distributed guess: failures from many addresses reach the per-username ceiling ...
    for i, attempts in enumerate((4, 3)):  # 5 + 4 + 3 = the ceiling of 12
        async with _at(app, f"10.7.7.{i}") as c:
            for _ in range(attempts):
                assert (await _try(c, "op", "wrong-password")).status_code == 401
    async with _at(app, "10.0.0.3") as fresh:
        r = await _try(fresh, "op", PASSWORD)
        assert r.status_code == 429 and "for this user;" in r.json()["detail"]
    # ... which does not apply at the addresses he signed in from lately
    async with _at(app, "10.0.0.1") as bench:
        assert (await _try(bench, "op", PASSWORD)).status_code == 200
    async with _at(app, "10.0.0.2") as second:
        assert (await _try(second, "op", PASSWORD)).status_code == 200


async def test_one_address_spraying_does_not_lock_out_the_known_users_behind_it(
    app, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app.state.settings.login_max_failures_per_ip = 8
    await add_user(sessionmaker, "op", "operator", qr_code="FLQR-good")
    await add_user(sessionmaker, "newbie", "operator", qr_code="FLQR-newbie")
    async with _at(app, "10.9.9.9") as c:
        assert (await _try(c, "op", PASSWORD)).status_code == 200  # op works behind it
        for i in range(4):
            assert (await _try(c, f"user{i}", "bad-password")).status_code == 401
        for _ in range(4):
            r = await c.post("/api/v1/auth/login/qr", json={"qr_code": "FLQR-bad"})
            assert r.status_code == 401
        blocked = await c.post("/api/v1/auth/login/qr", json={"qr_code": "FLQR-newbie"})
        assert blocked.status_code == 429
        assert "address" in blocked.json()["detail"]
        blocked = await _try(c, "newbie", PASSWORD)
        assert blocked.status_code == 429 and "address" in blocked.json()["detail"]
        assert (await _try(c, "op", PASSWORD)).status_code == 200
        assert (
            await c.post("/api/v1/auth/login/qr", json={"qr_code": "FLQR-good"})
        ).status_code == 200
    async with _at(app, "10.9.9.10") as other:
        assert (await _try(other, "newbie", PASSWORD)).status_code == 200


async def test_one_users_failures_do_not_lock_the_others_at_his_address(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessionmaker, "op", "operator")
    await add_user(sessionmaker, "other", "operator")
    for _ in range(5):
        assert (await _try(client, "op", "wrong-password")).status_code == 401
    for _ in range(45):
        assert (await _try(client, "op", "wrong-password")).status_code == 429
    assert (await _try(client, "other", PASSWORD)).status_code == 200
