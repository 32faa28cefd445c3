"""The login check's short memory: used while it is safe, dropped at once on every change.

Two apps on one PostgreSQL database stand for two server workers. The second one is taken out
of this process's shared registry, so only the cross-worker bus (NOTIFY) can reach its memory,
as in a separate process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.app import create_app
from fleet.auth import principal_cache
from fleet.models import User
from fleet.settings import Settings
from tests.conftest import Backend, add_user, bearer, login
from tests.support import count_statements

ME = "/api/v1/auth/me"


async def _client(stack: AsyncExitStack, app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
    return await stack.enter_async_context(
        httpx.AsyncClient(transport=transport, base_url="http://testserver")
    )


@pytest.fixture
async def workers(
    backend: Backend, settings: Settings
) -> AsyncIterator[tuple[Any, Any, httpx.AsyncClient, httpx.AsyncClient]]:
    """Two running apps (lifespans started) on the same database, with a client each."""
    if backend.name != "postgresql":
        pytest.skip("the cross-worker bus needs PostgreSQL")
    a, b = create_app(settings), create_app(settings)
    async with AsyncExitStack() as stack:
        for app in (a, b):
            await stack.enter_async_context(app.router.lifespan_context(app))
            await app.state.events.ready()
        b.state.principal_cache.detach()
        # Long-lived entries: whatever ends them in time is the notification, not their age.
        b.state.principal_cache.ttl = 60.0
        yield a, b, await _client(stack, a), await _client(stack, b)
    for app in (a, b):
        await app.state.engine.dispose()


async def _until_refused(client: httpx.AsyncClient, headers: dict[str, str]) -> float:
    """Seconds until ``/auth/me`` refuses the token (fails the test after 3 s)."""
    start = time.monotonic()
    while time.monotonic() - start < 3.0:
        r = await client.get(ME, headers=headers)
        if r.status_code != 200:
            assert r.status_code in (401, 403), r.text
            return time.monotonic() - start
        await asyncio.sleep(0.01)
    pytest.fail("the other worker still accepts the token")


async def test_check_is_remembered_per_session(workers: Any) -> None:
    a, b, ca, cb = workers
    await add_user(a.state.sessionmaker, "alice", "maker")
    headers = bearer(await login(ca, "alice"))
    assert (await cb.get(ME, headers=headers)).status_code == 200
    statements = count_statements(b)
    r = await cb.get(ME, headers=headers)
    assert r.status_code == 200
    assert r.json()["username"] == "alice"
    assert statements == []  # answered from the memory
    # ... and not for longer than its lifetime
    b.state.principal_cache._entries = {
        sid: (stored - b.state.principal_cache.ttl - 0.1, n, found)
        for sid, (stored, n, found) in b.state.principal_cache._entries.items()
    }
    assert (await cb.get(ME, headers=headers)).status_code == 200
    assert len(statements) == 1


async def _logout(
    ca: httpx.AsyncClient,
    _admin: dict[str, str],
    headers: dict[str, str],
    _user_id: int,
    _factory: Any,
) -> None:
    assert (await ca.post("/api/v1/auth/logout", headers=headers)).status_code == 204


async def _deactivate(
    ca: httpx.AsyncClient,
    admin: dict[str, str],
    _headers: dict[str, str],
    user_id: int,
    _factory: Any,
) -> None:
    assert (await ca.delete(f"/api/v1/users/{user_id}", headers=admin)).status_code == 200


async def _role_change(
    ca: httpx.AsyncClient,
    admin: dict[str, str],
    _headers: dict[str, str],
    user_id: int,
    _factory: Any,
) -> None:
    r = await ca.patch(
        f"/api/v1/users/{user_id}", headers=admin, json={"role": "operator", "roles": []}
    )
    assert r.status_code == 200, r.text


async def _password_change(
    ca: httpx.AsyncClient,
    admin: dict[str, str],
    _headers: dict[str, str],
    user_id: int,
    _factory: Any,
) -> None:
    r = await ca.patch(
        f"/api/v1/users/{user_id}", headers=admin, json={"password": "another-password-1"}
    )
    assert r.status_code == 200, r.text


async def _direct_write(
    _ca: httpx.AsyncClient,
    _admin: dict[str, str],
    _headers: dict[str, str],
    user_id: int,
    factory: async_sessionmaker[AsyncSession],
) -> None:
    # Any session of the process (a script, the CLI) is watched, not only requests.
    async with factory() as session, session.begin():
        await session.execute(update(User).where(User.id == user_id).values(is_active=False))


Change = Callable[[httpx.AsyncClient, dict[str, str], dict[str, str], int, Any], Awaitable[None]]


@pytest.mark.parametrize(
    "change",
    [_logout, _deactivate, _role_change, _password_change, _direct_write],
    ids=["logout", "deactivate", "role", "password", "direct"],
)
async def test_changes_end_remembered_logins_in_every_worker(workers: Any, change: Change) -> None:
    a, b, ca, cb = workers
    await add_user(a.state.sessionmaker, "root", "admin", ["operator", "maker"])
    user = await add_user(a.state.sessionmaker, "bob", "maker")
    admin = bearer(await login(ca, "root"))
    headers = bearer(await login(ca, "bob"))
    for client in (ca, cb):  # both workers remember bob's login now
        assert (await client.get(ME, headers=headers)).status_code == 200
    statements = count_statements(b)
    assert (await cb.get(ME, headers=headers)).status_code == 200
    assert statements == []

    await change(ca, admin, headers, user.id, a.state.sessionmaker)

    # At once in the worker that made the change, before its answer ...
    assert (await ca.get(ME, headers=headers)).status_code in (401, 403)
    # ... and in the other one as soon as the notification arrives.
    await _until_refused(cb, headers)


async def test_nothing_is_remembered_without_the_bus(
    app: Any, client: httpx.AsyncClient, sessionmaker: Any
) -> None:
    """Without a running listener (here: no lifespan; on SQLite: no bus) every request reads."""
    await add_user(sessionmaker, "carol", "maker")
    headers = bearer(await login(client, "carol"))
    statements = count_statements(app)
    for _ in range(3):
        assert (await client.get(ME, headers=headers)).status_code == 200
    assert len(statements) == 3


async def test_check_read_during_a_change_is_not_kept() -> None:
    cache = principal_cache.new_cache()

    class Bus:
        listening = True
        listen_count = 1

    class Sub:
        dropped = False

    cache._bus, cache._sub = Bus(), Sub()  # type: ignore[assignment]
    found = principal_cache.CheckedLogin(1, "u", None, "maker", (), True, "maker", False)
    epoch = cache.epoch
    cache.clear()  # a change committed while the check was reading
    cache.put("sid", found, epoch)
    assert cache.get("sid") is None
    cache.put("sid", found, cache.epoch)
    assert cache.get("sid") == found
    Bus.listen_count = 2  # the listener reconnected: it may have missed notifications
    assert cache.get("sid") is None


def _listening_cache() -> principal_cache.PrincipalCache:
    cache = principal_cache.new_cache()

    class Bus:
        listening = True
        listen_count = 1

    class Sub:
        dropped = False

    cache._bus, cache._sub = Bus(), Sub()  # type: ignore[assignment]
    return cache


async def test_requests_arriving_together_share_one_check() -> None:
    """When the memory has expired, the requests in flight do not all read again at once."""
    cache = _listening_cache()
    found = principal_cache.CheckedLogin(1, "u", None, "maker", (), True, "maker", False)
    reads = 0
    release = asyncio.Event()

    async def read() -> principal_cache.CheckedLogin:
        nonlocal reads
        reads += 1
        await release.wait()
        return found

    waiting = [asyncio.ensure_future(cache.load("sid", read)) for _ in range(20)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # a client that gives up does not end the read for the others
    release.set()
    answers = await asyncio.gather(*waiting[1:])
    assert reads == 1 and all(a == found for a in answers)
    assert cache.get("sid") == found  # and it is remembered


async def test_no_request_joins_a_check_that_began_before_a_change() -> None:
    cache = _listening_cache()
    before = principal_cache.CheckedLogin(1, "u", None, "maker", (), True, "maker", False)
    after = principal_cache.CheckedLogin(1, "u", None, "maker", (), True, "maker", True)
    calls: list[asyncio.Event] = []

    async def read() -> principal_cache.CheckedLogin:
        n = len(calls)
        calls.append(asyncio.Event())
        await calls[n].wait()
        return (before, after)[n]

    first = asyncio.ensure_future(cache.load("sid", read))
    await asyncio.sleep(0)
    cache.clear()  # a logout committed while the first check was reading
    second = asyncio.ensure_future(cache.load("sid", read))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(calls) == 2
    for started in calls:
        started.set()
    assert (await first).revoked is False
    assert (await second).revoked is True  # read anew, not the answer begun before
    assert cache.get("sid") == after  # only the read that began after the change is kept


async def test_a_failed_check_fails_for_everyone_waiting_and_is_not_kept() -> None:
    cache = _listening_cache()

    async def read() -> principal_cache.CheckedLogin:
        await asyncio.sleep(0)
        raise ConnectionError("database gone")

    results = await asyncio.gather(
        *(cache.load("sid", read) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    assert cache.get("sid") is None and not cache._loading
