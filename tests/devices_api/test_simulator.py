"""The simulator: drives a roll-out to completion over DDI; pressure curves look like a test."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.devices_api import simulator
from fleet.models import (
    Device,
    DeviceAttributes,
    Rollout,
    SoftwareInstallation,
    TelemetrySample,
    TestReport,
)
from fleet.settings import Settings
from fleet.software import rollouts
from tests.factories import add_installation, add_version


async def test_simulator_drives_rollout_to_completion(
    live: str, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessionmaker() as session, session.begin():
        devices = await session.run_sync(lambda s: simulator.provision(s, 4, "RS"))
    version = await add_version(sessionmaker, settings)
    async with sessionmaker() as session, session.begin():
        rollout, _excluded = await rollouts.create_rollout(
            session,
            name="sim",
            version_id=version.id,
            device_ids=None,
            flt={"kind_of_device": "simulated"},
            group_size=2,
            success_threshold=100,
            error_threshold=0,
            user_id=None,
            ip=None,
        )
        await rollouts.start(session, rollout.id, user_id=None, ip=None)
    stop = asyncio.Event()
    task = asyncio.create_task(
        simulator.run(
            f"http://{live}", devices, poll_interval=0.1, telemetry=False, stop=stop, seed=1
        )
    )
    status = None
    for _ in range(300):
        async with sessionmaker() as session:
            status = await session.scalar(select(Rollout.status).where(Rollout.id == rollout.id))
        if status != "running":
            break
        await asyncio.sleep(0.1)
    stop.set()
    stats = await task
    assert status == "finished", stats.line()
    assert stats.succeeded == 4 and stats.failed == 0 and stats.downloads == 4
    assert stats.errors == 0, stats.last_error
    async with sessionmaker() as session:
        done = await session.scalar(
            select(func.count(SoftwareInstallation.id)).where(
                SoftwareInstallation.status == "completed"
            )
        )
        attrs = list(await session.scalars(select(DeviceAttributes)))
    assert done == 4
    assert len(attrs) == 4 and attrs[0].attributes["firmware"] in ("0.0.0", "1.0.0")


async def test_simulator_reports_failures(
    live: str, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessionmaker() as session, session.begin():
        devices = await session.run_sync(lambda s: simulator.provision(s, 2, "RF"))
    version = await add_version(sessionmaker, settings)
    async with sessionmaker() as session:
        device_ids = list(await session.scalars(select(Device.id).order_by(Device.id)))
    for device_id in device_ids:
        await add_installation(sessionmaker, device_id, version.id)
    stats = await simulator.run(
        f"http://{live}",
        devices,
        poll_interval=0.1,
        telemetry=False,
        fail_rate=1.0,
        duration=2.0,
        seed=2,
    )
    assert stats.failed == 2 and stats.succeeded == 0
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(SoftwareInstallation)))
    assert {r.status for r in rows} == {"failed"}
    assert all(r.error_message == "simulated installation failure" for r in rows)


def test_pressure_curve_shape() -> None:
    rng = random.Random(3)
    evacuated = simulator.pressure_sample(3.9, rng)["pressure_low"]
    held = [simulator.pressure_sample(t, rng)["pressure_low"] for t in (5.0, 15.0)]
    flowing = simulator.pressure_sample(25.0, rng)
    assert -14.5 < evacuated < -13.0
    assert held[1] > held[0]  # a small leak
    assert held[1] - held[0] < 1.0
    assert flowing["flow"] > 50


def test_token_file_parsing() -> None:
    devices = simulator.read_tokens("# comment\nMT-1 fdt_abc\n\nMT-2 fdt_def\n")
    assert [(d.controller_id, d.token) for d in devices] == [
        ("MT-1", "fdt_abc"),
        ("MT-2", "fdt_def"),
    ]
    with pytest.raises(ValueError, match="controllerId token"):
        simulator.read_tokens("MT-1")


async def test_simulator_streams_a_running_test(
    live: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session, session.begin():
        devices = await session.run_sync(lambda s: simulator.provision(s, 1, "ST"))
        device_id = await session.scalar(select(Device.id))
        report = TestReport(
            device_id=device_id,
            start_time=datetime.now(UTC),
            status="in_progress",
            results={"current_step": 1, "steps": [{"step_order": 1, "auto_test": True}]},
        )
        session.add(report)
    stats = await simulator.run(
        f"http://{live}", devices, poll_interval=0.1, telemetry=True, duration=2.0, seed=4
    )
    assert stats.samples > 0 and stats.errors == 0, stats.last_error
    async with sessionmaker() as session:
        stored = await session.scalar(
            select(func.count(TelemetrySample.id)).where(TelemetrySample.test_id == report.id)
        )
        row = await session.get(TestReport, report.id)
    assert stored == stats.samples
    assert row is not None and len(row.pressure_data["steps"]["1"]["t"]) == stats.samples
    lows = row.pressure_data["steps"]["1"]["pressure_low"]
    assert min(lows) < -5  # the evacuation towards -14 mbar is under way
