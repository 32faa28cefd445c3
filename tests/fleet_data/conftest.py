"""Fixtures of the Fleet Data Manager tests: signed-in users. The factories (API and direct
inserts) are in ``tests/factories.py``."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import FLEET_DATA_API, signed_in

API = FLEET_DATA_API


@pytest.fixture
async def manager(client: httpx.AsyncClient, sessionmaker) -> dict[str, str]:
    return await signed_in(client, sessionmaker, "mgr", "manager")


@pytest.fixture
async def operator(client: httpx.AsyncClient, sessionmaker) -> dict[str, str]:
    return await signed_in(client, sessionmaker, "op", "operator")
