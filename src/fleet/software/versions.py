"""Versions of a package: metadata, semantic ordering and keeping ``outdated`` up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit import service as audit
from fleet.auth.deps import Principal
from fleet.errors import Conflict, NotFound
from fleet.models import Device, DeviceSoftware, Rollout, SoftwareInstallation, SoftwareVersion
from fleet.software import catalog
from fleet.software.schemas import VersionCreate, VersionUpdate
from fleet.software.semver import COMPATIBILITY_SCHEMA, compatibility_problem, version_key
from fleet.validation import raise_if_invalid, validate

FIELDS = (
    "version_number",
    "release_notes",
    "changelog",
    "is_stable",
    "is_beta",
    "requires_reboot",
    "compatibility",
    "released_at",
)


def _snapshot(version: SoftwareVersion) -> dict[str, Any]:
    return {
        f: (str(v) if f == "released_at" and v is not None else v)
        for f in FIELDS
        for v in [getattr(version, f)]
    }


def check_compatibility(value: dict[str, Any] | None) -> None:
    """Refuse a malformed ``compatibility`` document with every problem and its path (422)."""
    if value is not None:
        raise_if_invalid(validate(value, COMPATIBILITY_SCHEMA), "compatibility")


async def get(session: AsyncSession, version_id: int) -> SoftwareVersion:
    """Load a version or raise NotFound."""
    version = await session.get(SoftwareVersion, version_id)
    if version is None:
        raise NotFound(f"Software version {version_id} not found")
    return version


async def list_versions(session: AsyncSession, software_id: int) -> list[SoftwareVersion]:
    """Answer a package's versions, newest first by semantic version."""
    await catalog.get(session, software_id)
    rows = (
        await session.scalars(
            select(SoftwareVersion).where(SoftwareVersion.software_id == software_id)
        )
    ).all()
    return sorted(rows, key=lambda v: version_key(v.version_number), reverse=True)


async def refresh_outdated(session: AsyncSession, software_id: int) -> None:
    """Mark each device's installed version ``outdated`` exactly when a newer stable
    compatible version exists (and ``installed`` again when none does)."""
    versions = (
        await session.execute(
            select(
                SoftwareVersion.id,
                SoftwareVersion.version_number,
                SoftwareVersion.compatibility,
                SoftwareVersion.is_stable,
                SoftwareVersion.is_beta,
            ).where(SoftwareVersion.software_id == software_id)
        )
    ).all()
    keys = {v.id: version_key(v.version_number) for v in versions}
    stable = [v for v in versions if v.is_stable and not v.is_beta]
    rows = (
        await session.execute(
            select(
                DeviceSoftware.id,
                DeviceSoftware.version_id,
                DeviceSoftware.installation_status,
                Device,
            )
            .join(Device, Device.id == DeviceSoftware.device_id)
            .where(
                DeviceSoftware.software_id == software_id,
                DeviceSoftware.installation_status.in_(("installed", "outdated")),
            )
        )
    ).all()
    to_outdated: list[int] = []
    to_installed: list[int] = []
    for ds_id, version_id, status, device in rows:
        mine = keys.get(version_id)
        newer = mine is not None and any(
            keys[v.id] > mine and compatibility_problem(v.compatibility, device) is None
            for v in stable
        )
        if newer and status != "outdated":
            to_outdated.append(ds_id)
        elif not newer and status != "installed":
            to_installed.append(ds_id)
    for status, ids in (("outdated", to_outdated), ("installed", to_installed)):
        for start in range(0, len(ids), 500):
            await session.execute(
                update(DeviceSoftware)
                .where(DeviceSoftware.id.in_(ids[start : start + 500]))
                .values(installation_status=status)
                .execution_options(synchronize_session=False)
            )


async def create(
    session: AsyncSession,
    software_id: int,
    data: VersionCreate,
    *,
    actor: Principal,
) -> SoftwareVersion:
    """Add a version (its number unique within the package); artifacts are uploaded after."""
    await catalog.get(session, software_id)
    check_compatibility(data.compatibility)
    taken = await session.scalar(
        select(SoftwareVersion.id).where(
            SoftwareVersion.software_id == software_id,
            SoftwareVersion.version_number == data.version_number,
        )
    )
    if taken:
        raise Conflict(f"version {data.version_number} already exists for this software")
    version = SoftwareVersion(
        software_id=software_id, created_by=actor.user_id, **data.model_dump()
    )
    session.add(version)
    await session.flush()
    await refresh_outdated(session, software_id)
    audit.audit_for(actor).record(
        session,
        "software.version.create",
        details={
            "entity": "software_version",
            "id": version.id,
            "software_id": software_id,
            "version_number": version.version_number,
        },
    )
    return version


async def update_version(
    session: AsyncSession,
    version_id: int,
    data: VersionUpdate,
    *,
    actor: Principal,
) -> SoftwareVersion:
    """Change a version's metadata (only the fields sent); its number and artifact stay."""
    version = await get(session, version_id)
    changes = data.model_dump(exclude_unset=True)
    if "compatibility" in changes:
        check_compatibility(changes["compatibility"])
    before = _snapshot(version)
    for key, value in changes.items():
        setattr(version, key, value)
    await session.flush()
    assert version.software_id is not None
    await refresh_outdated(session, version.software_id)
    audit.audit_for(actor).record(
        session,
        "software.version.update",
        details={
            "entity": "software_version",
            "id": version.id,
            "changes": audit.changes(before, _snapshot(version)),
        },
    )
    return version


async def delete(
    session: AsyncSession, version_id: int, *, actor: Principal
) -> Path | None:
    """Delete an unused version; answers its artifact file to remove after commit."""
    version = await get(session, version_id)
    used = await session.scalar(
        select(func.count(SoftwareInstallation.id)).where(
            SoftwareInstallation.version_id == version.id
        )
    )
    if used:
        raise Conflict(f"version {version.version_number} has {used} installation(s)")
    if await session.scalar(select(func.count(Rollout.id)).where(Rollout.version_id == version.id)):
        raise Conflict(f"version {version.version_number} is used by a roll-out")
    software_id = version.software_id
    file_path = Path(version.file_path) if version.file_path else None
    await session.delete(version)
    await session.flush()
    if software_id is not None:
        await refresh_outdated(session, software_id)
    audit.audit_for(actor).record(
        session,
        "software.version.delete",
        details={
            "entity": "software_version",
            "id": version_id,
            "version_number": version.version_number,
        },
    )
    return file_path
