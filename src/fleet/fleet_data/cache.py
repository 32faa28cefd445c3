"""A short-lived per-process cache of the dashboard, dropped on every fleet-data change —
whichever process or host made it.

The dashboard aggregates over the whole fleet (100 000 devices: tens of milliseconds); managers
reload it often while the fleet changes slowly. Every change made through this module moves the
shared ``dashboard`` generation (a row of ``cache_generations``, made by the first change) in
the change's own transaction; a cached answer is reused only while that generation is the one
it was computed under, read with one primary-key lookup per request. So after a committed
change no process, on any host, answers an older total. Changes made elsewhere (test
completions, devices going on- and offline) show within ``DASHBOARD_TTL_SECONDS``. The answer
carries ``generated_at`` so the page says how fresh it is."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from fleet import dialect
from fleet.models import CacheGeneration

DASHBOARD_TTL_SECONDS = 10.0
NAME = "dashboard"


async def bump(session: AsyncSession) -> None:
    """Record, in the caller's transaction, that customers or devices changed."""
    # An upsert: a fresh (or freshly restored) database has no row until the first change.
    await session.execute(
        dialect.insert(session, CacheGeneration)
        .values(name=NAME, value=1)
        .on_conflict_do_update(
            index_elements=[CacheGeneration.name], set_={"value": CacheGeneration.value + 1}
        )
    )


async def generation(session: AsyncSession | AsyncConnection) -> int:
    """The shared generation now (read before computing, so a result is never newer-labelled)."""
    value = await session.scalar(select(CacheGeneration.value).where(CacheGeneration.name == NAME))
    return int(value or 0)


@dataclass
class DashboardCache:
    value: Any = None
    stored_at: float = 0.0
    generation: int = -1

    def get(self, current: int) -> Any:
        """Answer the cached value if it is recent and nothing changed since, else ``None``."""
        fresh = time.monotonic() - self.stored_at < DASHBOARD_TTL_SECONDS
        if self.value is not None and fresh and self.generation == current:
            return self.value
        return None

    def put(self, value: Any, current: int) -> None:
        self.value, self.stored_at, self.generation = value, time.monotonic(), current
