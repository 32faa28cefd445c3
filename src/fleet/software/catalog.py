"""The software catalog: packages with their version and installation counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit import service as audit
from fleet.auth.deps import Principal
from fleet.errors import Conflict, NotFound
from fleet.models import DeviceSoftware, Rollout, Software, SoftwareInstallation, SoftwareVersion
from fleet.search import icontains
from fleet.software.schemas import SoftwareCreate, SoftwareRead, SoftwareUpdate
from fleet.software.semver import latest

FIELDS = (
    "name",
    "description",
    "vendor",
    "category",
    "platform",
    "license_type",
    "repository_url",
    "documentation_url",
    "is_active",
)


def _snapshot(software: Software) -> dict[str, Any]:
    return {f: getattr(software, f) for f in FIELDS}


def list_query(
    *,
    category: str | None = None,
    platform: str | None = None,
    vendor: str | None = None,
    q: str | None = None,
    is_active: bool | None = None,
) -> Select[Any]:
    """Build the catalog query: rows with counts, stable versions and the total, in one query."""
    version_count = (
        select(func.count(SoftwareVersion.id))
        .where(SoftwareVersion.software_id == Software.id)
        .scalar_subquery()
    )
    stable = (
        select(func.aggregate_strings(SoftwareVersion.version_number, ","))
        .where(
            SoftwareVersion.software_id == Software.id,
            SoftwareVersion.is_stable.is_(True),
            or_(SoftwareVersion.is_beta.is_(None), SoftwareVersion.is_beta.is_(False)),
        )
        .scalar_subquery()
    )
    installation_count = (
        select(func.count(SoftwareInstallation.id))
        .join(SoftwareVersion, SoftwareVersion.id == SoftwareInstallation.version_id)
        .where(SoftwareVersion.software_id == Software.id)
        .scalar_subquery()
    )
    stmt = select(
        Software,
        version_count.label("version_count"),
        stable.label("stable_versions"),
        installation_count.label("installation_count"),
        func.count().over().label("total"),
    )
    conditions = []
    if category:
        conditions.append(Software.category == category)
    if platform:
        conditions.append(Software.platform == platform)
    if vendor:
        conditions.append(Software.vendor == vendor)
    if is_active is not None:
        conditions.append(Software.is_active.is_(is_active))
    if q:
        conditions.append(
            or_(
                icontains(Software.name, q),
                icontains(func.coalesce(Software.description, ""), q),
                icontains(func.coalesce(Software.vendor, ""), q),
            )
        )
    if conditions:
        stmt = stmt.where(and_(*conditions))
    return stmt.order_by(func.lower(Software.name), Software.id)


def to_read(row: Any) -> SoftwareRead:
    """Turn one catalog row into its API shape."""
    software: Software = row[0]
    stable = [v for v in (row.stable_versions or "").split(",") if v]
    return SoftwareRead.model_validate(software).model_copy(
        update={
            "version_count": int(row.version_count or 0),
            "latest_stable_version": latest(stable),
            "installation_count": int(row.installation_count or 0),
        }
    )


async def list_software(
    session: AsyncSession, stmt: Select[Any], skip: int, limit: int
) -> tuple[list[SoftwareRead], int]:
    """Run the catalog query for one page; the total comes from the same round trip."""
    rows = (await session.execute(stmt.offset(skip).limit(limit))).all()
    if rows:
        return [to_read(r) for r in rows], int(rows[0].total)
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    return [], int(total or 0)


async def read_one(session: AsyncSession, software_id: int) -> SoftwareRead:
    """Answer one package with its counts."""
    row = (await session.execute(list_query().where(Software.id == software_id))).first()
    if row is None:
        raise NotFound(f"Software {software_id} not found")
    return to_read(row)


async def get(session: AsyncSession, software_id: int) -> Software:
    """Load a package or raise NotFound."""
    software = await session.get(Software, software_id)
    if software is None:
        raise NotFound(f"Software {software_id} not found")
    return software


async def create(
    session: AsyncSession, data: SoftwareCreate, *, actor: Principal
) -> Software:
    """Add a package to the catalog."""
    software = Software(**data.model_dump(), created_by=actor.user_id)
    session.add(software)
    await session.flush()
    audit.audit_for(actor).record(
        session,
        "software.create",
        details={"entity": "software", "id": software.id, "name": software.name},
    )
    return software


async def update(
    session: AsyncSession,
    software_id: int,
    data: SoftwareUpdate,
    *,
    actor: Principal,
) -> Software:
    """Change a package's fields (only those sent)."""
    software = await get(session, software_id)
    before = _snapshot(software)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise Conflict("name cannot be removed")
    for key, value in changes.items():
        setattr(software, key, value)
    await session.flush()
    audit.audit_for(actor).record(
        session,
        "software.update",
        details={
            "entity": "software",
            "id": software.id,
            "changes": audit.changes(before, _snapshot(software)),
        },
    )
    return software


async def delete(
    session: AsyncSession, software_id: int, *, actor: Principal
) -> list[Path]:
    """Delete a package and its versions; answers the artifact files to remove after commit."""
    software = await get(session, software_id)
    used = await session.scalar(
        select(func.count(SoftwareInstallation.id))
        .join(SoftwareVersion, SoftwareVersion.id == SoftwareInstallation.version_id)
        .where(SoftwareVersion.software_id == software.id)
    )
    if used:
        raise Conflict(
            f"{software.name} has {used} installation(s); deactivate it instead of deleting"
        )
    in_rollouts = await session.scalar(
        select(func.count(Rollout.id))
        .join(SoftwareVersion, SoftwareVersion.id == Rollout.version_id)
        .where(SoftwareVersion.software_id == software.id)
    )
    if in_rollouts:
        raise Conflict(f"{software.name} is used by roll-outs; deactivate it instead")
    files = [
        Path(p)
        for p in (
            await session.scalars(
                select(SoftwareVersion.file_path).where(
                    SoftwareVersion.software_id == software.id,
                    SoftwareVersion.file_path.is_not(None),
                )
            )
        ).all()
        if p
    ]
    # Without installations only rows that never got installed can refer to it.
    await session.execute(
        sql_delete(DeviceSoftware).where(DeviceSoftware.software_id == software.id)
    )
    await session.delete(software)
    await session.flush()
    audit.audit_for(actor).record(
        session,
        "software.delete",
        details={"entity": "software", "id": software_id, "name": software.name},
    )
    return files
