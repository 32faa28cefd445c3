"""DDI actions of one device: which installation an action id names, and what a device's feedback
on it does to the installation state machine.

Shared by the DDI resources (``ddi``) and the batched feedback (``feedback``). Every refusal here
happens before anything is written, so a refused report leaves the transaction as it found it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import record
from fleet.db import utcnow
from fleet.devices_api.credentials import DeviceIdentity
from fleet.devices_api.schemas import DdiStatus
from fleet.errors import DomainError, Forbidden, NotFound
from fleet.models import DdiActionStatus, Device, InstallationOptions, SoftwareInstallation
from fleet.settings import Settings
from fleet.software.batch import SoftwareChangeBatch
from fleet.software.installations import record_progress, transition
from fleet.software.queries import next_pending_for_device
from fleet.software.states import FINISHED, Policy


class Gone(DomainError):
    """The action exists but is finished: no more feedback or downloads for it."""

    status_code = 410


def action_id(raw: str) -> int:
    """The installation id an action id in a path names (anything but digits is 404)."""
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound(f"Action {raw!r} not found")
    return int(raw)


async def check_controller(
    session: AsyncSession,
    settings: Settings,
    identity: DeviceIdentity,
    tenant: str,
    controller_id: str,
) -> None:
    """Refuse a path whose tenant is not ours (404) or whose controller is not the token's
    device (404 when no such device exists, 403 when it is another device)."""
    if tenant.lower() != settings.tenant.lower():  # hawkBit matches tenants ignoring case
        raise NotFound(f"Unknown tenant {tenant!r}")
    if identity.device.device_number != controller_id:
        exists = await session.scalar(
            select(Device.id).where(Device.device_number == controller_id)
        )
        if exists is None:
            raise NotFound(f"Unknown controller {controller_id!r}")
        raise Forbidden("This token belongs to another device")


async def own_installation(
    session: AsyncSession, identity: DeviceIdentity, raw_id: str
) -> SoftwareInstallation:
    """The device's installation an action id names, or 404."""
    installation = await session.get(SoftwareInstallation, action_id(raw_id))
    if installation is None or installation.device_id != identity.device_id:
        raise NotFound(f"Action {raw_id} not found")
    return installation


async def current_installation(
    session: AsyncSession, identity: DeviceIdentity, raw_id: str
) -> SoftwareInstallation:
    """The installation an action id names if it is the device's current action; 410 when it
    is finished, 404 otherwise."""
    # The usual case (the device asks about the action it was given) costs at most one query.
    if identity.next_action_loaded:
        current = identity.next_action
    else:
        current = await next_pending_for_device(session, identity.device_id)
    if current is not None and current.id == action_id(raw_id):
        return current
    installation = await own_installation(session, identity, raw_id)
    if installation.status in FINISHED:
        raise Gone(f"Action {raw_id} is {installation.status}")
    raise NotFound(f"Action {raw_id} is not the device's current action")


HISTORY_LINES = 200  # the last detail lines of a report kept in the action history


def _percent(status: DdiStatus) -> int | None:
    progress = status.result.progress
    if progress is None or progress.cnt is None or not progress.of or progress.of < 0:
        return None
    return max(0, min(100, progress.cnt * 100 // progress.of))


def status_row(installation_id: int, kind: str, status: DdiStatus) -> DdiActionStatus:
    """The action-history entry of one report: what hawkBit keeps of it."""
    progress = status.result.progress
    return DdiActionStatus(
        installation_id=installation_id,
        kind=kind,
        reported_at=utcnow(),
        execution=status.execution,
        finished=status.result.finished,
        code=status.code,
        progress_cnt=progress.cnt if progress else None,
        progress_of=progress.of if progress else None,
        details=[d[:2000] for d in status.details[-HISTORY_LINES:]] or None,
    )


async def _download_only(session: AsyncSession, installation_id: int) -> bool:
    row = await session.get(InstallationOptions, installation_id)
    return row is not None and row.update_type == "download_only"


def report_line(status: DdiStatus, fallback: str) -> str:
    """The installation-log line of a report: its details, its code, or what it said."""
    details = "; ".join(d.strip() for d in status.details if d.strip())
    line = details or fallback
    if status.code is not None:
        line = f"{line} (code {status.code})"
    return line


async def apply_feedback(
    session: AsyncSession,
    installation: SoftwareInstallation,
    status: DdiStatus,
    ip: str | None,
    *,
    policy: Policy,
    batch: SoftwareChangeBatch | None = None,
) -> DdiActionStatus:
    """Map DDI ``execution`` / ``result.finished`` onto the installation state machine, as
    hawkBit does: ``closed`` with ``finished`` ``none`` or ``success`` is a success, ``failure``
    a failure; ``canceled`` cancels; ``rejected`` is only noted; anything else is progress.
    Answers the report's action-history entry (``ddi_action_statuses``) for the caller to add
    once the report is applied (added later, it cannot be written by a later report's flush).
    Each move runs under ``policy``; ``batch`` is the caller's group commit, if any."""
    execution, finished = status.execution, status.result.finished
    has_details = any(d.strip() for d in status.details)
    percent = _percent(status)
    if execution == "closed":
        # A device may report the end without having reported the start: pass through it.
        through = "in_progress" if installation.status == "pending" else None
        if finished in ("success", "none"):
            await transition(
                session,
                installation,
                "completed",
                policy=policy,
                batch=batch,
                log_line=report_line(status, "device reports success"),
                progress=100,
                ip=ip,
                through=through,
                through_line="started",
            )
        else:
            await transition(
                session,
                installation,
                "failed",
                policy=policy,
                batch=batch,
                error_message=report_line(status, "device reports failure"),
                ip=ip,
                through=through,
                through_line="started",
            )
    elif execution == "canceled":
        await transition(
            session,
            installation,
            "canceled",
            policy=policy,
            batch=batch,
            log_line=report_line(status, "canceled by device"),
            ip=ip,
        )
    elif execution == "downloaded" and await _download_only(session, installation.id):
        # hawkBit closes a download-only action when the device has downloaded it
        await transition(
            session,
            installation,
            "completed",
            policy=policy,
            batch=batch,
            log_line=report_line(status, "downloaded (download only)"),
            ip=ip,
            through="in_progress" if installation.status == "pending" else None,
            through_line="started",
            download_only=True,
        )
    elif execution == "rejected":
        record(
            session,
            "ddi.action_rejected",
            ip_address=ip,
            level="WARNING",
            details={
                "entity": "software_installation",
                "id": installation.id,
                "reason": report_line(status, "rejected") if has_details else None,
                "code": status.code,
            },
        )
    elif installation.status == "pending":
        await transition(
            session,
            installation,
            "in_progress",
            policy=policy,
            batch=batch,
            log_line=report_line(status, execution),
            progress=percent,
            ip=ip,
        )
    else:
        await record_progress(
            session, installation, log_line=report_line(status, execution), progress=percent
        )
    return status_row(installation.id, "deployment", status)
