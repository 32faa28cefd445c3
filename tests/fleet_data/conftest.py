"""Helpers for the Fleet Data Manager tests: signed-in users, API factories, direct inserts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import DeviceDueDate, JsonTemplate, TestReport, TestScenario, User
from tests.conftest import add_user, bearer, login

API = "/api/v1/fleet-data"


@pytest.fixture
async def manager(client: httpx.AsyncClient, sessionmaker) -> dict[str, str]:
    await add_user(sessionmaker, "mgr", "manager")
    return bearer(await login(client, "mgr"))


@pytest.fixture
async def operator(client: httpx.AsyncClient, sessionmaker) -> dict[str, str]:
    await add_user(sessionmaker, "op", "operator")
    return bearer(await login(client, "op"))


async def make_customer(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **contact: Any
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/customers", headers=headers, json={"name": name, "contact_info": contact or None}
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def make_device(
    client: httpx.AsyncClient, headers: dict[str, str], number: str, **fields: Any
) -> dict[str, Any]:
    payload = {"device_number": number, "device_type": "mask_tester", **fields}
    r = await client.post(f"{API}/devices", headers=headers, json=payload)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def add_template(
    factory: async_sessionmaker[AsyncSession],
    category: str,
    schema: dict[str, Any],
    defaults: dict[str, Any],
) -> None:
    async with factory() as session, session.begin():
        session.add(
            JsonTemplate(
                name=f"{category} config",
                template_type="device_config",
                category=category,
                schema_=schema,
                default_values=defaults,
                is_active=True,
            )
        )


async def add_report(
    factory: async_sessionmaker[AsyncSession],
    device_id: int,
    at: datetime,
    verdict: str = "passed",
    *,
    scenario: str = "Yearly mask test",
    operator: str | None = None,
    due: datetime | None = None,
) -> int:
    """Insert a completed test report (and the due-date row it leads to) straight into the db."""
    from sqlalchemy import select

    async with factory() as session, session.begin():
        scenario_row = await session.scalar(
            select(TestScenario).where(TestScenario.name == scenario)
        )
        if scenario_row is None:
            scenario_row = TestScenario(name=scenario, device_type="mask_tester")
            session.add(scenario_row)
            await session.flush()
        operator_id = None
        if operator:
            operator_id = await session.scalar(select(User.id).where(User.username == operator))
        report = TestReport(
            test_scenario_id=scenario_row.id,
            device_id=device_id,
            operator_id=operator_id,
            start_time=at,
            end_time=at,
            status="completed" if verdict != "failed" else "failed",
            results={"verdict": verdict, "steps": []},
        )
        session.add(report)
        await session.flush()
        if due is not None:
            existing = await session.get(DeviceDueDate, device_id)
            if existing is None:
                session.add(
                    DeviceDueDate(
                        device_id=device_id,
                        last_test_at=at,
                        next_due_at=due,
                        report_id=report.id,
                        interval_months=12,
                    )
                )
            else:
                existing.last_test_at, existing.next_due_at = at, due
        return report.id
