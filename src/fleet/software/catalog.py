"""The software catalog: packages with their version and installation counts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import Integer, and_, bindparam, case, func, or_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from fleet.audit import service as audit
from fleet.auth.deps import Principal
from fleet.errors import Conflict, NotFound
from fleet.models import DeviceSoftware, Rollout, Software, SoftwareInstallation, SoftwareVersion
from fleet.search import icontains
from fleet.software.schemas import SoftwareCreate, SoftwareRead, SoftwareRow, SoftwareUpdate
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


@dataclass(frozen=True)
class CatalogFilters:
    category: str | None = None
    platform: str | None = None
    vendor: str | None = None
    q: str | None = None
    is_active: bool | None = None
    software_id: int | None = None  # one package (its own answer)


def _conditions(filters: CatalogFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.software_id is not None:
        conditions.append(Software.id == filters.software_id)
    if filters.category:
        conditions.append(Software.category == filters.category)
    if filters.platform:
        conditions.append(Software.platform == filters.platform)
    if filters.vendor:
        conditions.append(Software.vendor == filters.vendor)
    if filters.is_active is not None:
        conditions.append(Software.is_active.is_(filters.is_active))
    if filters.q:
        q = filters.q
        conditions.append(
            or_(
                icontains(Software.name, q),
                icontains(func.coalesce(Software.description, ""), q),
                icontains(func.coalesce(Software.vendor, ""), q),
            )
        )
    return conditions


# The catalog's columns, in the order of SoftwareRead: plain values, no ORM objects.
_COLUMNS = (
    Software.id,
    Software.name,
    Software.description,
    Software.vendor,
    Software.category,
    Software.platform,
    Software.license_type,
    Software.repository_url,
    Software.documentation_url,
    Software.created_by,
    Software.is_active,
    Software.created_at,
    Software.updated_at,
)


class CatalogStatements(NamedTuple):
    page: Any  # the page with its counts and, in its last column, the total
    total: Any  # the total alone, for a page past the end


@lru_cache(maxsize=512)
def _statements(filters: CatalogFilters) -> CatalogStatements:
    """The catalog page in one statement: the page's packages first (with the filtered total
    as a window count), then their versions and installations counted in one grouped pass
    each, for the page's packages only (no subquery per row). Built once per filter; the
    page's bounds are parameters."""
    conditions = _conditions(filters)
    page = (
        select(*_COLUMNS, func.count().over().label("total"))
        .where(*conditions)
        .order_by(func.lower(Software.name), Software.id)
        .offset(bindparam("page_offset", type_=Integer))
        .limit(bindparam("page_limit", type_=Integer))
        .cte("page")
    )
    on_page = select(page.c.id).scalar_subquery()
    stable = and_(
        SoftwareVersion.is_stable.is_(True),
        or_(SoftwareVersion.is_beta.is_(None), SoftwareVersion.is_beta.is_(False)),
    )
    versions = (
        select(
            SoftwareVersion.software_id,
            func.count(SoftwareVersion.id).label("version_count"),
            func.aggregate_strings(case((stable, SoftwareVersion.version_number)), ",").label(
                "stable_versions"
            ),
        )
        .where(SoftwareVersion.software_id.in_(on_page))
        .group_by(SoftwareVersion.software_id)
        .subquery("versions")
    )
    installations = (
        select(
            SoftwareVersion.software_id,
            func.count(SoftwareInstallation.id).label("installation_count"),
        )
        .join(SoftwareInstallation, SoftwareInstallation.version_id == SoftwareVersion.id)
        .where(SoftwareVersion.software_id.in_(on_page))
        .group_by(SoftwareVersion.software_id)
        .subquery("installations")
    )
    columns = [page.c[c.key] for c in _COLUMNS]
    statement = (
        select(
            *columns,
            versions.c.version_count,
            versions.c.stable_versions,
            installations.c.installation_count,
            page.c.total,
        )
        .select_from(page)
        .outerjoin(versions, versions.c.software_id == page.c.id)
        .outerjoin(installations, installations.c.software_id == page.c.id)
        .order_by(func.lower(page.c.name), page.c.id)
    )
    total = select(func.count()).select_from(Software).where(*conditions)
    return CatalogStatements(statement, total)


@lru_cache(maxsize=1024)
def _latest_stable(joined: str) -> str | None:
    return latest([v for v in joined.split(",") if v])


_KEYS = tuple(c.key for c in _COLUMNS)


async def catalog_rows(
    conn: AsyncConnection | AsyncSession, filters: CatalogFilters, skip: int, limit: int
) -> tuple[list[SoftwareRow], int]:
    """Answer one page of the catalog as plain rows (shaped like ``SoftwareRead``) with the
    filtered total, in one statement (a page past the end costs a second one for the total)."""
    statements = _statements(filters)
    params = {"page_offset": skip, "page_limit": limit}
    rows = (await conn.execute(statements.page, params)).all()
    if not rows:
        return [], int(await conn.scalar(statements.total) or 0)
    items: list[SoftwareRow] = []
    for row in rows:
        item: dict[str, Any] = dict(zip(_KEYS, row, strict=False))
        version_count, stable, installation_count = row[13:16]
        item["version_count"] = int(version_count or 0)
        item["latest_stable_version"] = _latest_stable(stable) if stable else None
        item["installation_count"] = int(installation_count or 0)
        items.append(cast(SoftwareRow, item))
    return items, int(rows[0][-1])


async def read_one(session: AsyncSession, software_id: int) -> SoftwareRead:
    """Answer one package with its counts."""
    rows, _total = await catalog_rows(session, CatalogFilters(software_id=software_id), 0, 1)
    if not rows:
        raise NotFound(f"Software {software_id} not found")
    return SoftwareRead.model_validate(rows[0])


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
