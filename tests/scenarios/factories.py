"""Small typed factories for scenario and run tests."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import Customer, Device
from fleet.scenarios.demo import AFTER_USE, MAKER_B, YEARLY

FLOWS = {"yearly": YEARLY, "after_use": AFTER_USE, "maker_b": MAKER_B}


def flow(name: str = "yearly") -> dict[str, Any]:
    return copy.deepcopy(FLOWS[name])


async def add_customer(
    factory: async_sessionmaker[AsyncSession], name: str = "Fire Brigade"
) -> int:
    async with factory() as session, session.begin():
        customer = Customer(name=name, contact_info={"email": "ops@example.com"})
        session.add(customer)
        await session.flush()
        return customer.id


async def add_device(
    factory: async_sessionmaker[AsyncSession],
    number: str,
    *,
    device_type: str = "mask_tester",
    customer_id: int | None = None,
    status: str = "active",
) -> int:
    async with factory() as session, session.begin():
        device = Device(
            device_number=number,
            device_type=device_type,
            kind_of_device="full_face_mask",
            serial_number=f"SN-{number}",
            customer_id=customer_id,
            status=status,
        )
        session.add(device)
        await session.flush()
        return device.id


async def create_scenario(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str = "Yearly",
    test_flow: dict[str, Any] | None = None,
    device_type: str | None = "mask_tester",
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/scenarios",
        headers=headers,
        json={
            "name": name,
            "description": "d",
            "device_type": device_type,
            "test_flow": test_flow if test_flow is not None else flow(),
        },
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data
