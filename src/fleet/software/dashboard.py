"""Dashboard figures of the software module, in portable SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.models import (
    DeviceSoftware,
    Rollout,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
)

RECENT = 10


async def stats(session: AsyncSession) -> dict[str, Any]:
    """Answer totals, software by category, installations by status, recent releases and
    outdated devices per software."""
    software_total, software_active = (
        await session.execute(
            select(
                func.count(Software.id),
                func.count(Software.id).filter(Software.is_active.is_(True)),
            )
        )
    ).one()
    versions_total = await session.scalar(select(func.count(SoftwareVersion.id)))
    installations_total = await session.scalar(select(func.count(SoftwareInstallation.id)))
    rollouts_running = await session.scalar(
        select(func.count(Rollout.id)).where(Rollout.status == "running")
    )
    by_category = {
        (category or "uncategorized"): int(n)
        for category, n in await session.execute(
            select(Software.category, func.count(Software.id)).group_by(Software.category)
        )
    }
    by_status = {
        (status or "pending"): int(n)
        for status, n in await session.execute(
            select(SoftwareInstallation.status, func.count(SoftwareInstallation.id)).group_by(
                SoftwareInstallation.status
            )
        )
    }
    device_status = {
        (status or "not_installed"): int(n)
        for status, n in await session.execute(
            select(DeviceSoftware.installation_status, func.count(DeviceSoftware.id)).group_by(
                DeviceSoftware.installation_status
            )
        )
    }
    released = func.coalesce(SoftwareVersion.released_at, SoftwareVersion.created_at)
    recent = [
        {
            "version_id": v.id,
            "software_id": v.software_id,
            "software_name": name,
            "version_number": v.version_number,
            "is_stable": v.is_stable,
            "is_beta": v.is_beta,
            "released_at": when,
        }
        for v, name, when in await session.execute(
            select(SoftwareVersion, Software.name, released.label("released"))
            .join(Software, Software.id == SoftwareVersion.software_id)
            .order_by(released.desc(), SoftwareVersion.id.desc())
            .limit(RECENT)
        )
    ]
    outdated = [
        {"software_id": sid, "software_name": name, "devices": int(n)}
        for sid, name, n in await session.execute(
            select(Software.id, Software.name, func.count(DeviceSoftware.id))
            .join(DeviceSoftware, DeviceSoftware.software_id == Software.id)
            .where(DeviceSoftware.installation_status == "outdated")
            .group_by(Software.id, Software.name)
            .order_by(func.count(DeviceSoftware.id).desc(), Software.name)
        )
    ]
    return {
        "totals": {
            "software": int(software_total),
            "active_software": int(software_active),
            "versions": int(versions_total or 0),
            "installations": int(installations_total or 0),
            "running_rollouts": int(rollouts_running or 0),
        },
        "software_by_category": by_category,
        "installations_by_status": by_status,
        "device_software_by_status": device_status,
        "recent_releases": recent,
        "outdated_by_software": outdated,
    }
