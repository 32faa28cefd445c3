"""Database connections under load: a pool sized to what PostgreSQL allows, and a refusal that
becomes ``503 Service Unavailable`` with ``Retry-After`` instead of a 500.

Each worker keeps ``db_pool_size`` connections and opens up to ``db_max_overflow`` more in a
burst; a request that finds them all busy waits its turn (up to ``POOL_WAIT_SECONDS``). ``fleet
serve`` caps both so that all workers together stay within PostgreSQL's ``max_connections``
(minus the reserved slots, a margin for scripts and the CLI, and each worker's event listener).
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import URL, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from fleet.errors import database_error_handler, unavailable
from fleet.settings import Settings
from fleet.state import app_state

log = logging.getLogger(__name__)

POOL_WAIT_SECONDS = 10.0
RETRY_AFTER_SECONDS = 1
MARGIN = 10  # connections left for the CLI, migrations, backups and administration
TOO_MANY_CONNECTIONS = "53300"  # SQLSTATE: too many clients / slots reserved


def pool_sizes(
    max_connections: int, reserved: int, workers: int, pool_size: int, max_overflow: int
) -> tuple[int, int]:
    """Answer (pool size, overflow) per worker so that ``workers`` of them fit in the server.

    Each worker also holds one connection outside the pool (the live-event listener).
    """
    budget = max(1, (max_connections - reserved - MARGIN) // max(1, workers) - 1)
    pool = max(1, min(pool_size, budget))
    return pool, max(0, min(max_overflow, budget - pool))


def fitted_pool(
    sync_url: URL | str, workers: int, pool_size: int, max_overflow: int
) -> tuple[int, int, int]:
    """Ask the PostgreSQL server at ``sync_url`` for its limit and answer (pool size, overflow,
    ``max_connections``) per worker for ``workers`` of them (``pool_sizes``)."""
    engine = create_engine(sync_url)
    try:
        with engine.connect() as conn:
            limit = int(conn.execute(text("SHOW max_connections")).scalar_one())
            reserved = int(conn.execute(text("SHOW superuser_reserved_connections")).scalar_one())
    finally:
        engine.dispose()
    pool, overflow = pool_sizes(limit, reserved, workers, pool_size, max_overflow)
    return pool, overflow, limit


def gate_size(settings: Settings) -> int:
    """How many requests of a worker may hold a database connection at once: the pool and its
    burst, less two for work outside requests (live events, batched device feedback)."""
    return max(1, settings.db_pool_size + settings.db_max_overflow - 2)


def _refused(exc: DBAPIError) -> bool:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code == TOO_MANY_CONNECTIONS or "too many clients" in str(orig).lower()


async def _pool_timeout(_request: Request, _exc: Exception) -> JSONResponse:
    log.warning("no database connection free within %.0f s", POOL_WAIT_SECONDS)
    return unavailable("The server is busy; try again in a moment", RETRY_AFTER_SECONDS)


async def _dbapi_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and _refused(exc):
        log.warning("the database refused a connection: too many clients")
        return unavailable("The database is busy; try again in a moment", RETRY_AFTER_SECONDS)
    # everything else as every other database error: 422 for a value it cannot hold, 503
    # when it cannot be reached
    return await database_error_handler(request, exc)


def install(app: FastAPI) -> None:
    """Answer 503 with Retry-After when no connection is free or the database refuses one;
    let requests take their turn for a connection in order of arrival."""
    state = app_state(app)
    state.db_gate = asyncio.Semaphore(gate_size(state.settings))
    app.add_exception_handler(PoolTimeout, _pool_timeout)
    app.add_exception_handler(DBAPIError, _dbapi_error)
