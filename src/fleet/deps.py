"""Dependencies shared by every router: the request's database session (or read-only
connection) and settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from fleet import overload
from fleet.db import session_scope
from fleet.settings import Settings
from fleet.state import state_of


# Requests take their turn for a database connection at ``db_gate`` (first come, first served)
# rather than at the pool, where a newcomer can take a connection just handed to a waiter and
# send it back to the end of the line: under overload every request waits about as long. The
# wait is bounded like the pool's: past it, 503 with Retry-After (fleet.overload).
@asynccontextmanager
async def _turn(request: Request) -> AsyncIterator[None]:
    gate = state_of(request).db_gate
    try:
        async with asyncio.timeout(overload.POOL_WAIT_SECONDS):
            await gate.acquire()
    except TimeoutError:
        raise PoolTimeout("no turn for a database connection in time") from None
    try:
        yield
    finally:
        gate.release()


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with _turn(request):
        async for session in session_scope(state_of(request).sessionmaker):
            yield session


async def _read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with _turn(request), state_of(request).read_engine.connect() as conn:
        yield conn


# Dependencies are coroutines even when they only read: FastAPI runs a plain function in a
# worker thread, a hop that costs more than the work on every request.
async def _settings(request: Request) -> Settings:
    return state_of(request).settings


async def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# scope="function": commit happens when the endpoint returns, before the answer is sent, so a
# failed commit is reported to the client instead of being lost after a 200.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
# For endpoints that only read: a pooled connection outside any transaction (no BEGIN/COMMIT
# round trips), no ORM session.
ReadConnDep = Annotated[AsyncConnection, Depends(_read_connection, scope="function")]
SettingsDep = Annotated[Settings, Depends(_settings)]
ClientIP = Annotated[str | None, Depends(_client_ip)]
