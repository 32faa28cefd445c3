"""The device list's X-Total-Count: remembered per filter, exact after every change.

Two apps on one PostgreSQL database stand for two server workers; the second is detached from
this process's registry, so only the cross-worker bus reaches its memory (as in another process).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fleet.app import create_app
from fleet.settings import Settings
from tests.conftest import Backend, add_user, bearer, login
from tests.factories import add_report, create_device
from tests.fleet_data.conftest import API
from tests.support import count_statements


@pytest.fixture
async def workers(backend: Backend, settings: Settings) -> AsyncIterator[Any]:
    if backend.name != "postgresql":
        pytest.skip("the cross-worker bus needs PostgreSQL")
    a, b = create_app(settings), create_app(settings)
    async with AsyncExitStack() as stack:
        clients = []
        for app in (a, b):
            await stack.enter_async_context(app.router.lifespan_context(app))
            await app.state.events.ready()
            transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url="http://testserver")
                )
            )
        b.state.device_totals.detach()
        b.state.principal_cache.detach()
        # Long-lived entries: whatever ends them in time is the notification, not their age.
        b.state.device_totals.ttl = 60.0
        yield a, b, clients[0], clients[1]
    for app in (a, b):
        await app.state.engine.dispose()


async def soon(read: Any, expected: Any) -> None:
    """Worker B answers ``expected`` once the notification has arrived (milliseconds; the
    test allows 3 s, far below the entries' 60 s lifetime here)."""
    start = time.monotonic()
    while (got := await read()) != expected:
        assert time.monotonic() - start < 3.0, f"worker B still answers {got}, not {expected}"
        await asyncio.sleep(0.005)


async def _total(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> int:
    r = await client.get(f"{API}/devices", headers=headers, params={"limit": 2, **params})
    assert r.status_code == 200, r.text
    return int(r.headers["X-Total-Count"])


async def test_totals_are_remembered_and_exact_after_every_change(workers: Any) -> None:
    a, b, ca, cb = workers
    await add_user(a.state.sessionmaker, "mgr", "manager")
    headers = bearer(await login(ca, "mgr"))
    first = await create_device(ca, headers, "D1")
    await create_device(ca, headers, "D2", status="maintenance")
    assert await _total(cb, headers) == 2
    assert await _total(cb, headers, status="maintenance") == 1

    statements = count_statements(b)
    page = await cb.get(f"{API}/devices", headers=headers, params={"limit": 1, "skip": 1})
    assert page.headers["X-Total-Count"] == "2"
    assert [d["device_number"] for d in page.json()] == ["D2"]
    assert len(statements) == 1 and "count(" not in statements[0].lower()  # remembered

    # Created, changed and deleted on worker A: worker A's totals follow before its answer,
    # worker B's when the notification arrives.
    assert await _total(ca, headers) == 2
    third = await create_device(ca, headers, "D3")
    await soon(lambda: _total(cb, headers), 3)
    r = await ca.patch(
        f"{API}/devices/{first['id']}", headers=headers, json={"status": "maintenance"}
    )
    assert r.status_code == 200
    await soon(lambda: _total(cb, headers, status="maintenance"), 2)
    assert (await ca.delete(f"{API}/devices/{third['id']}", headers=headers)).status_code == 204
    await soon(lambda: _total(cb, headers), 2)

    # A test result written by any session of the process (here: straight into the database,
    # outside a request) moves a device out of "never tested" as soon as the notification
    # arrives (a request would wait for it to be sent before answering).
    assert await _total(cb, headers, never_tested="true") == 2
    now = datetime.now(UTC)
    await add_report(a.state.sessionmaker, first["id"], now, due=now + timedelta(days=365))
    await soon(lambda: _total(cb, headers, never_tested="true"), 1)
    assert await _total(cb, headers, never_tested="false") == 1


async def test_overdue_totals_are_never_remembered(workers: Any) -> None:
    """ "Overdue" depends on the clock, not only on the rows: counted on every request."""
    a, b, ca, cb = workers
    await add_user(a.state.sessionmaker, "mgr", "manager")
    headers = bearer(await login(ca, "mgr"))
    await create_device(ca, headers, "D1")
    assert await _total(cb, headers, overdue="false") == 1
    statements = count_statements(b)
    assert await _total(cb, headers, overdue="false") == 1
    assert "count(" in statements[-1].lower()


async def test_fresh_dashboard_counts_follow_every_change(workers: Any) -> None:
    a, b, ca, cb = workers
    await add_user(a.state.sessionmaker, "mgr", "manager")
    headers = bearer(await login(ca, "mgr"))

    async def fresh() -> dict[str, Any]:
        r = await cb.get(f"{API}/dashboard", headers=headers, params={"fresh": "true"})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    device = await create_device(ca, headers, "D1")
    assert (await fresh())["total_devices"] == 1
    statements = count_statements(b)
    assert (await fresh())["total_devices"] == 1
    assert "group by devices.status" not in statements[-1].lower()  # fleet counts remembered
    await create_device(ca, headers, "D2", status="maintenance")
    await soon(lambda: _by(fresh, "by_status"), {"active": 1, "maintenance": 1})
    r = await ca.post(f"{API}/customers", headers=headers, json={"name": "Acme"})
    assert r.status_code == 201
    await soon(lambda: _by(fresh, "total_customers"), 1)
    patch = {"customer_id": r.json()["id"]}
    r = await ca.patch(f"{API}/devices/{device['id']}", headers=headers, json=patch)
    assert r.status_code == 200
    await soon(lambda: _by(fresh, "by_customer"), {"Acme": 1})
    assert (await fresh())["devices_without_customer"] == 1


async def _by(read: Any, field: str) -> Any:
    body = await read()
    value = body[field]
    if isinstance(value, list):
        return {i["label"]: i["count"] for i in value}
    return value
