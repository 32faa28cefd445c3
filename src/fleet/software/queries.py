"""Queries about versions and installations that several modules ask: one home for each.

The installation state machine (``installations``), the roll-out engine (``rollouts``) and the
device API (``fleet.devices_api``) all read through these functions instead of writing the
same join again.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.errors import NotFound
from fleet.models import Software, SoftwareInstallation, SoftwareVersion
from fleet.software.states import UNFINISHED

# Built once: building a statement costs about as much as running it on the hot path.
_VERSION_AND_SOFTWARE = (
    select(SoftwareVersion, Software)
    .join(Software, Software.id == SoftwareVersion.software_id)
    .where(SoftwareVersion.id == bindparam("vid"))
)
VERSIONS_OF_SOFTWARE = select(
    SoftwareVersion.id,
    SoftwareVersion.version_number,
    SoftwareVersion.compatibility,
    SoftwareVersion.is_stable,
    SoftwareVersion.is_beta,
).where(SoftwareVersion.software_id == bindparam("sid"))


async def version_and_software(
    session: AsyncSession, version_id: int | None, *, missing: str | None = None
) -> tuple[SoftwareVersion, Software]:
    """Load a version with its package in one query; ``NotFound`` (``missing``, or "Software
    version N not found") when the version does not exist."""
    row = (await session.execute(_VERSION_AND_SOFTWARE, {"vid": version_id})).first()
    if row is None:
        raise NotFound(missing or f"Software version {version_id} not found")
    return row[0], row[1]


async def versions_of_software(
    session: AsyncSession, software_id: int, known: dict[int, list[Any]] | None = None
) -> list[Any]:
    """The rows (id, version_number, compatibility, is_stable, is_beta) of a package's
    versions; with ``known`` (a batch's memory) each package is read once."""
    rows = known.get(software_id) if known is not None else None
    if rows is None:
        rows = list((await session.execute(VERSIONS_OF_SOFTWARE, {"sid": software_id})).all())
        if known is not None:
            known[software_id] = rows
    return rows


def unfinished_of_software(
    device_ids: Collection[int], software_id: int, what: Any = SoftwareInstallation
) -> Select[Any]:
    """Select the unfinished installations of one package on these devices (``what``: the
    rows, or a column of them)."""
    return (
        select(what)
        .join(SoftwareVersion, SoftwareVersion.id == SoftwareInstallation.version_id)
        .where(
            SoftwareInstallation.device_id.in_(device_ids),
            SoftwareVersion.software_id == software_id,
            SoftwareInstallation.status.in_(UNFINISHED),
        )
    )


async def latest_rollback_point(
    session: AsyncSession, device_id: int, software_id: int
) -> dict[str, Any] | None:
    """Return the rollback point of the device's latest completed installation of a software."""
    stmt = (
        select(SoftwareInstallation.rollback_point)
        .join(SoftwareVersion, SoftwareVersion.id == SoftwareInstallation.version_id)
        .where(
            SoftwareInstallation.device_id == device_id,
            SoftwareVersion.software_id == software_id,
            SoftwareInstallation.status == "completed",
        )
        .order_by(SoftwareInstallation.completed_at.desc(), SoftwareInstallation.id.desc())
        .limit(1)
    )
    point: dict[str, Any] | None = await session.scalar(stmt)
    return point


async def next_pending_for_device(
    session: AsyncSession, device_id: int
) -> SoftwareInstallation | None:
    """Return the device's oldest unfinished installation (what it should do next)."""
    installation: SoftwareInstallation | None = await session.scalar(
        select(SoftwareInstallation)
        .where(
            SoftwareInstallation.device_id == device_id,
            SoftwareInstallation.status.in_(UNFINISHED),
        )
        .order_by(SoftwareInstallation.id)
        .limit(1)
    )
    return installation
