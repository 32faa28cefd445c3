"""A device's history: test reports, software installations and audited changes, merged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fleet.fleet_data.devices import read_device
from fleet.fleet_data.schemas import DeviceHistory, HistoryEntry
from fleet.models import (
    DeviceLogEntry,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
    SystemLog,
    TestReport,
    TestScenario,
    User,
)

_ACTION_TITLES = {
    "device.create": "Device created",
    "device.update": "Device changed",
}
_SHOWN_VALUE_CHARS = 60


def _short(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 1] + "…"


def _change_summary(changed: dict[str, Any]) -> str:
    parts = []
    for field, diff in changed.items():
        if field == "configuration":
            parts.append("configuration changed")
        elif isinstance(diff, dict) and diff.get("old") is None:
            parts.append(f"{field}: {_short(diff.get('new'))}")
        elif isinstance(diff, dict):
            parts.append(f"{field}: {_short(diff.get('old'))} → {_short(diff.get('new'))}")
    return "; ".join(parts)


def _verdict(results: Any) -> str | None:
    if isinstance(results, dict) and isinstance(results.get("verdict"), str):
        return str(results["verdict"])
    return None


async def _tests(session: AsyncSession, device_id: int, limit: int) -> list[HistoryEntry]:
    rows = await session.execute(
        select(
            TestReport.id,
            TestReport.start_time,
            TestReport.end_time,
            TestReport.status,
            TestReport.results,
            TestScenario.name,
            User.username,
        )
        .outerjoin(TestScenario, TestScenario.id == TestReport.test_scenario_id)
        .outerjoin(User, User.id == TestReport.operator_id)
        .where(TestReport.device_id == device_id)
        .order_by(TestReport.start_time.desc(), TestReport.id.desc())
        .limit(limit)
    )
    entries = []
    for rid, start, end, status, results, scenario, operator in rows:
        verdict = _verdict(results)
        entries.append(
            HistoryEntry(
                kind="test",
                at=start,
                title=f"Test: {scenario or 'unknown scenario'}",
                summary=f"{verdict or 'no verdict'} ({status or 'unknown status'})",
                ref_id=rid,
                user=operator,
                details={
                    "report_id": rid,
                    "scenario": scenario,
                    "operator": operator,
                    "verdict": verdict,
                    "status": status,
                    "end_time": end.isoformat() if end else None,
                },
            )
        )
    return entries


async def _installations(session: AsyncSession, device_id: int, limit: int) -> list[HistoryEntry]:
    initiator = aliased(User)
    rows = await session.execute(
        select(
            SoftwareInstallation, Software.name, SoftwareVersion.version_number, initiator.username
        )
        .outerjoin(SoftwareVersion, SoftwareVersion.id == SoftwareInstallation.version_id)
        .outerjoin(Software, Software.id == SoftwareVersion.software_id)
        .outerjoin(initiator, initiator.id == SoftwareInstallation.initiated_by)
        .where(SoftwareInstallation.device_id == device_id)
        .order_by(SoftwareInstallation.started_at.desc(), SoftwareInstallation.id.desc())
        .limit(limit)
    )
    entries = []
    for inst, software, version, username in rows:
        versions = f"{inst.previous_version or '—'} → {inst.new_version or version or '—'}"
        summary = f"{inst.status or 'pending'}, {versions}"
        if inst.error_message:
            summary += f": {_short(inst.error_message)}"
        entries.append(
            HistoryEntry(
                kind="software",
                at=inst.started_at,
                title=f"Software {inst.action}: {software or 'unknown software'}",
                summary=summary,
                ref_id=inst.id,
                user=username,
                details={
                    "installation_id": inst.id,
                    "software": software,
                    "action": inst.action,
                    "status": inst.status,
                    "previous_version": inst.previous_version,
                    "new_version": inst.new_version or version,
                    "completed_at": inst.completed_at.isoformat() if inst.completed_at else None,
                    "error_message": inst.error_message,
                },
            )
        )
    return entries


async def _changes(session: AsyncSession, device_id: int, limit: int) -> list[HistoryEntry]:
    rows = await session.execute(
        select(SystemLog, User.username)
        .join(DeviceLogEntry, DeviceLogEntry.log_id == SystemLog.id)
        .outerjoin(User, User.id == SystemLog.user_id)
        .where(DeviceLogEntry.device_id == device_id)
        .order_by(SystemLog.timestamp.desc(), SystemLog.id.desc())
        .limit(limit)
    )
    entries = []
    for log, username in rows:
        details = log.details or {}
        raw = details.get("changed")
        changed: dict[str, Any] = raw if isinstance(raw, dict) else {}
        entries.append(
            HistoryEntry(
                kind="change",
                at=log.timestamp,
                title=_ACTION_TITLES.get(log.action or "", log.action or "change"),
                summary=_change_summary(changed),
                ref_id=log.id,
                user=username,
                details={"action": log.action, "changed": changed},
            )
        )
    return entries


def _sort_key(entry: HistoryEntry) -> tuple[datetime, int]:
    return (entry.at or datetime.min.replace(tzinfo=UTC), entry.ref_id)


async def device_history(session: AsyncSession, device_id: int, limit: int) -> DeviceHistory:
    """Answer the device and its newest ``limit`` events, newest first (four queries)."""
    device = await read_device(session, device_id)
    entries = [
        *await _tests(session, device_id, limit),
        *await _installations(session, device_id, limit),
        *await _changes(session, device_id, limit),
    ]
    entries.sort(key=_sort_key, reverse=True)
    return DeviceHistory(device=device, entries=entries[:limit])
