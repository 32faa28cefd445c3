"""Helpers for the Fleet Config Manager tests."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import Customer, Device

API = "/api/v1/fleet-config"


@pytest.fixture
def cfg(role_headers: dict[str, dict[str, str]]) -> dict[str, str]:
    """Auth headers of a configurator."""
    return role_headers["configurator"]


async def add_devices(
    factory: async_sessionmaker[AsyncSession], specs: list[tuple[str, str, dict[str, Any] | None]]
) -> list[int]:
    """Insert devices (number, type, configuration) for one new customer; answers their ids."""
    async with factory() as session, session.begin():
        customer = Customer(name="ACME")
        session.add(customer)
        await session.flush()
        rows = [
            Device(device_number=n, device_type=t, configuration=c, customer_id=customer.id)
            for n, t, c in specs
        ]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]
