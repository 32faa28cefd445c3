"""How an installation reaches the device over DDI: hawkBit's action type, maintenance window
and user confirmation.

=================  ==================  ===========================================
our update type    DDI download/update what the device does
=================  ==================  ===========================================
``forced``         forced / forced     download and install now
``soft``           attempt / attempt   download and install when it suits the device
``download_only``  forced / skip       download only; the download finishes it
=================  ==================  ===========================================

A maintenance window is modelled as in hawkBit: a cron ``schedule`` of the window starts (five
fields, or Quartz style with seconds first and ``?``), a ``duration`` ``HH:MM:SS`` and a
``timezone`` offset ``+HH:MM`` the schedule is read in. The device sees
``maintenanceWindow: available`` inside a window and ``unavailable`` outside, where the update
part is ``skip`` (it may download, not install), as hawkBit does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.errors import ValidationFailed
from fleet.models import InstallationOptions, RolloutOptions

UPDATE_TYPES: Final = ("forced", "soft", "download_only")
HANDLING: Final = {
    "forced": ("forced", "forced"),
    "soft": ("attempt", "attempt"),
    "download_only": ("forced", "skip"),
}
_DURATION = re.compile(r"^(\d{2}):([0-5]\d):([0-5]\d)$")
_OFFSET = re.compile(r"^([+-])(\d{2}):([0-5]\d)$")


@dataclass(frozen=True)
class Options:
    update_type: str = "forced"
    window_schedule: str | None = None
    window_duration: str | None = None
    window_timezone: str | None = None
    confirmation_required: bool = False
    confirmed_at: datetime | None = None

    @property
    def has_window(self) -> bool:
        return bool(self.window_schedule)

    def as_dict(self) -> dict[str, Any]:
        return {
            "update_type": self.update_type,
            "maintenance_window": (
                {
                    "schedule": self.window_schedule,
                    "duration": self.window_duration,
                    "timezone": self.window_timezone,
                }
                if self.window_schedule
                else None
            ),
            "confirmation_required": self.confirmation_required,
        }


DEFAULT = Options()


def _seconds_first(schedule: str) -> bool:
    return len(schedule.split()) >= 6


def _offset(value: str) -> timezone:
    m = _OFFSET.match(value)
    if m is None:
        raise ValidationFailed("maintenance_window.timezone is an offset like '+01:00'")
    sign = -1 if m.group(1) == "-" else 1
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    if delta > timedelta(hours=14):
        raise ValidationFailed("maintenance_window.timezone is between -14:00 and +14:00")
    return timezone(sign * delta)


def _duration(value: str) -> timedelta:
    m = _DURATION.match(value)
    if m is None:
        raise ValidationFailed("maintenance_window.duration is 'HH:MM:SS'")
    delta = timedelta(hours=int(m.group(1)), minutes=int(m.group(2)), seconds=int(m.group(3)))
    if not timedelta(minutes=1) <= delta <= timedelta(days=7):
        raise ValidationFailed("maintenance_window.duration is between 1 minute and 7 days")
    return delta


def check(
    update_type: str,
    schedule: str | None,
    duration: str | None,
    tz: str | None,
) -> None:
    """Refuse (422) options hawkBit would refuse: unknown type, a window without all three
    parts, a schedule that is no cron expression, a bad duration or offset."""
    if update_type not in UPDATE_TYPES:
        raise ValidationFailed(f"update_type must be one of {', '.join(UPDATE_TYPES)}")
    if schedule is None and duration is None and tz is None:
        return
    if not schedule or not duration or not tz:
        raise ValidationFailed("a maintenance window needs schedule, duration and timezone")
    fields = schedule.split()
    if len(schedule) > 120 or not 5 <= len(fields) <= 7:
        raise ValidationFailed("maintenance_window.schedule is a cron expression")
    cron = " ".join(fields[:6])  # a Quartz year field is not supported by the evaluator
    if len(fields) == 7 and fields[6] not in ("*", "?"):
        raise ValidationFailed("maintenance_window.schedule: a year field must be '*'")
    if not croniter.is_valid(cron, second_at_beginning=_seconds_first(cron)):
        raise ValidationFailed("maintenance_window.schedule is not a valid cron expression")
    _duration(duration)
    _offset(tz)


def window_available(options: Options, now: datetime | None = None) -> bool:
    """Whether ``now`` falls inside one of the options' maintenance windows (always without)."""
    if not options.window_schedule or not options.window_duration:
        return True
    zone = _offset(options.window_timezone or "+00:00")
    at = (now or datetime.now(UTC)).astimezone(zone)
    cron = " ".join(options.window_schedule.split()[:6])
    it = croniter(cron, at + timedelta(seconds=1), second_at_beginning=_seconds_first(cron))
    last_start: datetime = it.get_prev(datetime)
    return bool(at < last_start + _duration(options.window_duration))


def _from_row(row: InstallationOptions | RolloutOptions | None) -> Options:
    if row is None:
        return DEFAULT
    return Options(
        update_type=row.update_type,
        window_schedule=row.window_schedule,
        window_duration=row.window_duration,
        window_timezone=row.window_timezone,
        confirmation_required=bool(row.confirmation_required),
        confirmed_at=getattr(row, "confirmed_at", None),
    )


async def of_installation(session: AsyncSession, installation_id: int) -> Options:
    return _from_row(await session.get(InstallationOptions, installation_id))


async def of_rollout(session: AsyncSession, rollout_id: int) -> Options:
    return _from_row(await session.get(RolloutOptions, rollout_id))


async def of_installations(session: AsyncSession, ids: list[int]) -> dict[int, Options]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(InstallationOptions).where(InstallationOptions.installation_id.in_(ids))
    )
    return {r.installation_id: _from_row(r) for r in rows}
