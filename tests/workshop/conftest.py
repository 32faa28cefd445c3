"""Helpers for the workshop tests: a scenario, a customer, items, parts and tests run by API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import yearly_test_setup

W = "/api/v1/workshop"
T = "/api/v1/tests"


@pytest.fixture
async def shop(
    client: httpx.AsyncClient,
    role_headers: dict[str, dict[str, str]],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, Any]:
    return await yearly_test_setup(client, sessionmaker, role_headers)


async def start_test(
    client: httpx.AsyncClient, shop: dict[str, Any], device: int | None = None
) -> httpx.Response:
    body = {"scenario_id": shop["scenario"]["id"], "device_id": device or shop["device"]}
    return await client.post(f"{T}/start", headers=shop["op"], json=body)


async def run_test(
    client: httpx.AsyncClient, shop: dict[str, Any], *, fail: bool, device: int | None = None
) -> dict[str, Any]:
    """Run the yearly test to its end: failed at the visual inspection, or passed."""
    r = await start_test(client, shop, device)
    assert r.status_code == 201, r.text
    test_id = r.json()["id"]
    if fail:
        r = await client.post(
            f"{T}/{test_id}/steps/1",
            headers=shop["op"],
            json={"result": "failed", "notes": "cracked visor"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["progress"]["status"] == "failed"
        return {"id": test_id}
    for order in range(1, 8):
        if order in (1, 7):
            body: dict[str, Any] = {"result": "passed", "notes": "ok"}
        else:
            body = {"source": "bench", "bench_profile": "good"}
        r = await client.post(f"{T}/{test_id}/steps/{order}", headers=shop["op"], json=body)
        assert r.status_code == 200, r.text
    r = await client.post(f"{T}/{test_id}/complete", headers=shop["op"])
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "passed"
    return {"id": test_id}


async def readiness(client: httpx.AsyncClient, headers: dict[str, str], device: int) -> str:
    r = await client.get(f"{W}/readiness", headers=headers, params={"device_ids": str(device)})
    assert r.status_code == 200, r.text
    state: str = r.json()[0]["readiness"]
    return state


async def make_part(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    number: str,
    *,
    lot: str = "L1",
    quantity: int = 5,
    **fields: Any,
) -> dict[str, Any]:
    body = {"part_number": number, "name": f"Part {number}", **fields}
    r = await client.post(f"{W}/parts", headers=headers, json=body)
    assert r.status_code == 201, r.text
    part: dict[str, Any] = r.json()
    if quantity:
        r = await client.post(
            f"{W}/parts/{part['id']}/receipts",
            headers=headers,
            json={"lot_number": lot, "quantity": quantity},
        )
        assert r.status_code == 201, r.text
        r = await client.get(f"{W}/parts/{part['id']}", headers=headers)
        part = r.json()
    return part
