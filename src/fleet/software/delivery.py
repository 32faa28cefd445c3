"""Delivery options of installations and roll-outs: how they reach the device over DDI
(update type, maintenance window, user confirmation; ``fleet.devices_api.options``), and the
reports devices sent about an installation (its DDI action history)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.devices_api import options as ddi_options
from fleet.models import (
    DdiActionStatus,
    InstallationOptions,
    RolloutOptions,
    RolloutTarget,
)
from fleet.software.schemas import DeliveryOptions

MAX_REPORTS = 500  # the newest reports shown with an installation


def check(data: DeliveryOptions) -> None:
    """Refuse (422) options that cannot be delivered (see ``devices_api.options.check``)."""
    window = data.maintenance_window
    ddi_options.check(
        data.update_type,
        window.schedule if window else None,
        window.duration if window else None,
        window.timezone if window else None,
    )


def _is_default(data: DeliveryOptions) -> bool:
    return (
        data.update_type == "forced"
        and data.maintenance_window is None
        and not data.confirmation_required
    )


def _columns(data: DeliveryOptions) -> dict[str, Any]:
    window = data.maintenance_window
    return {
        "update_type": data.update_type,
        "window_schedule": window.schedule if window else None,
        "window_duration": window.duration if window else None,
        "window_timezone": window.timezone if window else None,
        "confirmation_required": data.confirmation_required,
    }


def add_installation_options(
    session: AsyncSession, installation_id: int, data: DeliveryOptions
) -> None:
    """Keep an installation's options (nothing is kept for the defaults)."""
    if not _is_default(data):
        session.add(InstallationOptions(installation_id=installation_id, **_columns(data)))


def add_rollout_options(session: AsyncSession, rollout_id: int, data: DeliveryOptions) -> None:
    """Keep a roll-out's options for the installations its groups will create."""
    if not _is_default(data):
        session.add(RolloutOptions(rollout_id=rollout_id, **_columns(data)))


_COPY_COLUMNS = (
    "update_type",
    "window_schedule",
    "window_duration",
    "window_timezone",
    "confirmation_required",
)


async def copy_rollout_options(session: AsyncSession, rollout_id: int, group_id: int) -> None:
    """Give the installations a roll-out group just created the roll-out's options: one
    INSERT ... SELECT, which inserts nothing for a roll-out without options."""
    source = (
        select(
            RolloutTarget.installation_id,
            *(getattr(RolloutOptions, c) for c in _COPY_COLUMNS),
        )
        .join(RolloutOptions, RolloutOptions.rollout_id == literal(rollout_id))
        .where(RolloutTarget.group_id == group_id, RolloutTarget.installation_id.is_not(None))
    )
    await session.execute(
        insert(InstallationOptions).from_select(["installation_id", *_COPY_COLUMNS], source)
    )


def _as_read(row: InstallationOptions | RolloutOptions | None) -> dict[str, Any]:
    if row is None:
        return DeliveryOptions().model_dump()
    return {
        "update_type": row.update_type,
        "maintenance_window": (
            {
                "schedule": row.window_schedule,
                "duration": row.window_duration,
                "timezone": row.window_timezone,
            }
            if row.window_schedule
            else None
        ),
        "confirmation_required": bool(row.confirmation_required),
    }


async def installation_options(session: AsyncSession, installation_id: int) -> dict[str, Any]:
    return _as_read(await session.get(InstallationOptions, installation_id))


async def rollout_options(session: AsyncSession, rollout_id: int) -> dict[str, Any]:
    return _as_read(await session.get(RolloutOptions, rollout_id))


async def device_reports(session: AsyncSession, installation_id: int) -> list[DdiActionStatus]:
    """The device's reports about an installation, oldest first (the newest ``MAX_REPORTS``)."""
    rows = list(
        await session.scalars(
            select(DdiActionStatus)
            .where(DdiActionStatus.installation_id == installation_id)
            .order_by(DdiActionStatus.id.desc())
            .limit(MAX_REPORTS)
        )
    )
    rows.reverse()
    return rows
