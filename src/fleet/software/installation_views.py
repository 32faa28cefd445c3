"""The read side of installations: the filtered list, one installation with the names the
API shows, and what a device runs (its ``device_software`` rows with the newest stable
version that fits it). The state machine that changes them is ``installations``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.errors import NotFound
from fleet.models import (
    Device,
    DeviceSoftware,
    RolloutTarget,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
)
from fleet.software.semver import compatibility_problem, version_key

# Built once: constructing this five-table statement costs more than running it by id.
_LIST_BASE = (
    select(
        SoftwareInstallation,
        SoftwareVersion.software_id,
        Software.name,
        Device.device_number,
        RolloutTarget.rollout_id,
    )
    .outerjoin(SoftwareVersion, SoftwareVersion.id == SoftwareInstallation.version_id)
    .outerjoin(Software, Software.id == SoftwareVersion.software_id)
    .outerjoin(Device, Device.id == SoftwareInstallation.device_id)
    .outerjoin(RolloutTarget, RolloutTarget.installation_id == SoftwareInstallation.id)
)

# One installation by id with the same names: every status change through the API reads it.
ONE_BY_ID = _LIST_BASE.where(SoftwareInstallation.id == bindparam("iid"))


def list_query(
    *,
    device_id: int | None = None,
    software_id: int | None = None,
    version_id: int | None = None,
    status: str | None = None,
    action: str | None = None,
    rollout_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[SoftwareInstallation, int | None, str, str, int]:
    """Build the filtered newest-first installation list with software, device and roll-out."""
    stmt = _LIST_BASE
    if device_id is not None:
        stmt = stmt.where(SoftwareInstallation.device_id == device_id)
    if software_id is not None:
        stmt = stmt.where(SoftwareVersion.software_id == software_id)
    if version_id is not None:
        stmt = stmt.where(SoftwareInstallation.version_id == version_id)
    if status:
        stmt = stmt.where(SoftwareInstallation.status == status)
    if action:
        stmt = stmt.where(SoftwareInstallation.action == action)
    if rollout_id is not None:
        stmt = stmt.where(RolloutTarget.rollout_id == rollout_id)
    if since is not None:
        stmt = stmt.where(SoftwareInstallation.started_at >= since)
    if until is not None:
        stmt = stmt.where(SoftwareInstallation.started_at <= until)
    return stmt.order_by(SoftwareInstallation.id.desc())


def row_dict(row: Any) -> dict[str, Any]:
    """Flatten one ``list_query`` row for the API."""
    installation, software_id, software_name, device_number, rollout_id = row
    data = {c.key: getattr(installation, c.key) for c in SoftwareInstallation.__table__.columns}
    data.update(
        software_id=software_id,
        software_name=software_name,
        device_number=device_number,
        rollout_id=rollout_id,
    )
    return data


async def device_software(session: AsyncSession, device_id: int) -> list[dict[str, Any]]:
    """Answer what a device runs: its ``device_software`` rows with names and newest stable."""
    device = await session.get(Device, device_id)
    if device is None:
        raise NotFound(f"Device {device_id} not found")
    rows = (
        await session.execute(
            select(DeviceSoftware, Software.name, Software.category)
            .join(Software, Software.id == DeviceSoftware.software_id)
            .where(DeviceSoftware.device_id == device_id)
            .order_by(Software.name)
        )
    ).all()
    software_ids = [ds.software_id for ds, _n, _c in rows]
    stable: dict[int, list[tuple[str, dict[str, Any] | None]]] = {}
    if software_ids:
        for sid, number, compat in await session.execute(
            select(
                SoftwareVersion.software_id,
                SoftwareVersion.version_number,
                SoftwareVersion.compatibility,
            ).where(
                SoftwareVersion.software_id.in_(software_ids),
                SoftwareVersion.is_stable.is_(True),
                SoftwareVersion.is_beta.isnot(True),
            )
        ):
            stable.setdefault(sid, []).append((number, compat))
    out = []
    for ds, name, category in rows:
        fitting = [
            n
            for n, c in stable.get(ds.software_id or 0, [])
            if compatibility_problem(c, device) is None
        ]
        out.append(
            {
                **{c.key: getattr(ds, c.key) for c in DeviceSoftware.__table__.columns},
                "software_name": name,
                "category": category,
                "latest_stable_version": max(fitting, key=version_key) if fitting else None,
            }
        )
    return out
