"""Fixtures of the software tests; the factories (devices straight in the database, software,
versions and installations through the API) are in ``tests/factories.py``."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import SOFTWARE_API, signed_in

API = SOFTWARE_API


@pytest.fixture
async def maker(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> dict[str, str]:
    return await signed_in(client, sessionmaker, "maker_t", "maker")
