"""Figures of tests and backups move with what happens (in-process, this process's registry)."""

from __future__ import annotations

import io
from typing import Any

import httpx
from prometheus_client import REGISTRY
from sqlalchemy import create_engine

from fleet.config import dbdump
from fleet.ops.metrics import DatabaseCollector
from fleet.settings import Settings, sync_database_url
from tests.runs.test_runs_api import T, run_yearly, setup, start

__all__ = ["setup"]  # the runs tests' fixture: a scenario, a customer's device, an operator


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _running(settings: Settings) -> float:
    collector = DatabaseCollector(settings.resolved_database_url())
    try:
        for family in collector.collect():
            if family.name == "fleet_tests_running":
                return float(family.samples[0].value)
    finally:
        collector.close()
    raise AssertionError("no fleet_tests_running")


async def test_tests_running_and_verdicts(
    client: httpx.AsyncClient, setup: dict[str, Any], settings: Settings
) -> None:
    passed = _value("fleet_test_verdicts_total", verdict="passed")
    aborted = _value("fleet_test_verdicts_total", verdict="aborted")
    assert _running(settings) == 0
    first = await start(client, setup)
    assert _running(settings) == 1
    await run_yearly(client, setup["op"], first["id"])
    r = await client.post(f"{T}/{first['id']}/complete", headers=setup["op"])
    assert r.status_code == 200 and r.json()["verdict"] == "passed"
    assert _running(settings) == 0
    assert _value("fleet_test_verdicts_total", verdict="passed") == passed + 1
    second = await start(client, setup)
    r = await client.post(f"{T}/{second['id']}/abort", headers=setup["op"],
                          json={"reason": "mask torn"})
    assert r.status_code == 200, r.text
    assert _value("fleet_test_verdicts_total", verdict="aborted") == aborted + 1
    assert _value("fleet_test_verdicts_total", verdict="passed") == passed + 1


def test_backup_and_restore_durations(settings: Settings) -> None:
    backups = _value("fleet_backup_duration_seconds_count", operation="backup")
    restores = _value("fleet_backup_duration_seconds_count", operation="restore")
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    try:
        out = io.BytesIO()
        dbdump.dump(engine, out)
        dbdump.restore(engine, io.BytesIO(out.getvalue()), replace=True)
    finally:
        engine.dispose()
    assert _value("fleet_backup_duration_seconds_count", operation="backup") == backups + 1
    assert _value("fleet_backup_duration_seconds_count", operation="restore") == restores + 1
    assert _value("fleet_backup_duration_seconds_sum", operation="restore") > 0
