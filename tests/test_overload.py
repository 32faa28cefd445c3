"""Connection limits: pools that fit PostgreSQL's max_connections; refusals become 503."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from fleet.deps import ReadConnDep
from fleet.overload import MARGIN, pool_sizes


def test_pools_of_all_workers_fit_the_server() -> None:
    assert pool_sizes(100, 3, 2, 20, 20) == (20, 20)  # (100 - 3 - 10) // 2 - 1 = 42 >= 40
    assert pool_sizes(100, 3, 4, 20, 20) == (20, 0)  # 20 per worker
    assert pool_sizes(100, 3, 8, 20, 20) == (9, 0)
    assert pool_sizes(30, 3, 64, 20, 20) == (1, 0)  # never below one connection
    for limit in (20, 50, 100, 300):
        for workers in (1, 2, 3, 8):
            pool, overflow = pool_sizes(limit, 3, workers, 20, 20)
            if pool > 1:
                assert workers * (pool + overflow + 1) <= limit - 3 - MARGIN


class _TooMany(Exception):
    sqlstate = "53300"


@pytest.mark.parametrize(
    "error",
    [
        PoolTimeout("QueuePool limit of size 20 overflow 20 reached"),
        OperationalError("connect", {}, _TooMany("sorry, too many clients already")),
    ],
    ids=["pool-exhausted", "too-many-clients"],
)
async def test_refused_connection_is_503_with_retry_after(app: Any, error: Exception) -> None:
    @app.get("/test-refused")
    async def refused() -> None:
        raise error

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/test-refused")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "1"
    assert "busy" in r.json()["detail"]


async def test_other_database_errors_stay_errors(app: Any) -> None:
    # a bug (here a statement the database refuses to parse) is not hidden as "busy" or
    # "unavailable"; an OperationalError is the driver's word for an unreachable database
    @app.get("/test-broken")
    async def broken() -> None:
        raise ProgrammingError("SELEC 1", {}, Exception("syntax error"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/test-broken")
    assert r.status_code == 500


async def test_the_wait_for_a_turn_is_bounded(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests wait their turn for a connection first come first served, but not forever:
    past the pool's wait, 503 with Retry-After, as when the pool itself is exhausted."""
    import asyncio

    from fleet import overload

    monkeypatch.setattr(overload, "POOL_WAIT_SECONDS", 0.3)

    @app.get("/test-turn")
    async def turn(conn: ReadConnDep) -> dict[str, bool]:
        return {"ok": True}

    gate: asyncio.Semaphore = app.state.db_gate
    held = 0
    while not gate.locked():  # every turn taken, as by long requests
        await gate.acquire()
        held += 1
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await asyncio.wait_for(client.get("/test-turn"), 5)  # not forever
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "1"
        waiting = asyncio.ensure_future(client.get("/test-turn"))
        await asyncio.sleep(0.05)
        gate.release()  # a turn comes free in time
        held -= 1
        assert (await waiting).status_code == 200
    for _ in range(held):
        gate.release()
