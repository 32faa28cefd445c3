"""Read side of roll-outs: the filtered list, outcome counters per roll-out and each group's
devices counted by installation status (the engine and its controls are in ``rollouts``)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.models import Rollout, RolloutGroup, RolloutTarget, SoftwareInstallation


def list_query(status: str | None, version_id: int | None) -> Select[Rollout]:
    """Build the filtered newest-first roll-out list query."""
    stmt = select(Rollout)
    if status:
        stmt = stmt.where(Rollout.status == status)
    if version_id is not None:
        stmt = stmt.where(Rollout.version_id == version_id)
    return stmt.order_by(Rollout.id.desc())


async def summaries(session: AsyncSession, rollouts: list[Rollout]) -> dict[int, dict[str, int]]:
    """Answer per roll-out ``{completed, failed, canceled, groups}`` from group counters."""
    ids = [r.id for r in rollouts]
    out: dict[int, dict[str, int]] = {
        i: {"completed": 0, "failed": 0, "canceled": 0, "groups": 0} for i in ids
    }
    if not ids:
        return out
    rows = await session.execute(
        select(
            RolloutGroup.rollout_id,
            func.sum(RolloutGroup.completed_count),
            func.sum(RolloutGroup.failed_count),
            func.sum(RolloutGroup.canceled_count),
            func.count(),
        )
        .where(RolloutGroup.rollout_id.in_(ids))
        .group_by(RolloutGroup.rollout_id)
    )
    for rid, done, failed, canceled, groups in rows:
        out[rid] = {
            "completed": int(done or 0),
            "failed": int(failed or 0),
            "canceled": int(canceled or 0),
            "groups": int(groups),
        }
    return out


async def group_details(session: AsyncSession, rollout: Rollout) -> list[dict[str, Any]]:
    """Answer each group with its devices counted by installation status."""
    groups = (
        await session.scalars(
            select(RolloutGroup)
            .where(RolloutGroup.rollout_id == rollout.id)
            .order_by(RolloutGroup.position)
        )
    ).all()
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = await session.execute(
        select(
            RolloutTarget.group_id,
            SoftwareInstallation.status,
            RolloutTarget.skip_reason.is_not(None),
            func.count(),
        )
        .outerjoin(SoftwareInstallation, SoftwareInstallation.id == RolloutTarget.installation_id)
        .where(RolloutTarget.rollout_id == rollout.id)
        .group_by(
            RolloutTarget.group_id,
            SoftwareInstallation.status,
            RolloutTarget.skip_reason.is_not(None),
        )
    )
    for group_id, status, skipped, n in rows:
        key = status or ("skipped" if skipped else "waiting")
        counts[group_id][key] = counts[group_id].get(key, 0) + int(n)
    return [
        {
            "id": g.id,
            "position": g.position,
            "status": g.status,
            "device_count": g.device_count,
            "completed_count": g.completed_count,
            "failed_count": g.failed_count,
            "canceled_count": g.canceled_count,
            "started_at": g.started_at,
            "finished_at": g.finished_at,
            "counts": counts.get(g.id, {}),
        }
        for g in groups
    ]
