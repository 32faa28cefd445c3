"""The installation state machine's moves: the one code path every installation status change
takes. The states, the legal moves and the policy of rules a move runs through are data, in
``fleet.software.states``.

Both the maker's ``PATCH /api/v1/fleet-software/installations/{id}`` and the device API (hawkBit
DDI feedback) call these functions, so an installation behaves the same whoever reports it.
None of them commits: the caller's transaction commits or rolls back everything at once
(installation row, ``device_software``, audit row, and whatever the policy's rules do: roll-out
counters and the next roll-out group). Audit rows are only added to the session; they go out
with the next flush or the commit.

Contract
--------
``create_installation(session, *, device_id, version_id, action, initiated_by, ip,
rollout_id=None) -> SoftwareInstallation``
    Create a ``pending`` installation. ``action`` is install / update / uninstall / rollback.
    Raises ``NotFound`` (device or version missing), ``ValidationFailed`` (unknown action) or
    ``Conflict`` with the reason (``states.plan_problem``): version not compatible with the
    device, package inactive, an unfinished installation of the same software already exists
    on the device, nothing to update/uninstall, version already running, or a rollback whose
    ``version_id`` is not the version of the device's latest ``rollback_point`` for that
    software. Fills ``previous_version`` / ``new_version`` and ``rollback_point``
    (``software_id``, ``version_id``, ``version``, ``configuration``, ``installation_status`` of
    the device's ``device_software`` row before the change; a rollback adds ``restores``, the
    point it returns to) and moves ``device_software`` to ``installing``.
    With ``rollout_id`` the installation is linked to that roll-out's target row of the device.

``transition(session, installation, new_status, *, policy, batch=None, log_line=None,
error_message=None, progress=None, actor_user_id=None, ip=None, through=None,
through_line=None, download_only=False) -> SoftwareInstallation``
    Move along ``states.MOVES``: ``pending -> in_progress -> completed | failed``; ``canceled``
    from ``pending`` or ``in_progress``. Anything else (including the same status twice, e.g.
    a second concurrent "start") raises ``Conflict``; the status check is a conditional
    UPDATE, so of two concurrent requests exactly one wins. A device that reports the end of
    an installation it never reported starting passes ``through="in_progress"``: both moves,
    one write. Appends a timestamped line to ``installation_log``; ``completed`` sets
    ``device_software`` to ``installed`` (or ``outdated`` when a newer stable compatible
    version exists) with the new version and date — an uninstall to ``not_installed``, a
    rollback restores the rollback point's version and configuration; ``failed`` sets it to
    ``failed`` and keeps ``error_message`` and the log; ``canceled`` restores the status from
    before. The ``policy``'s rules for the move run before and after the write, in the same
    transaction (the roll-out engine's count the finished installation in its group and let
    the roll-out advance to its next group, pause or finish). With a ``batch``
    (``fleet.software.batch``), the ``device_software`` change is held in it until its owner
    flushes it.

``reopen_canceled(session, installation, *, policy, log_line, ip=None) -> SoftwareInstallation``
    A refused cancellation taken back: ``canceled -> in_progress``.

``record_progress(session, installation, *, log_line=None, progress=None) -> SoftwareInstallation``
    Log a progress report of an ``in_progress`` installation without changing its status.

What a device should do next (its oldest unfinished installation) is
``fleet.software.queries.next_pending_for_device``. The artifact a device downloads is
streamed by ``fleet.software.artifacts.stream_response`` (HTTP Range, SHA-256 in
``X-Checksum-SHA256``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from fleet.audit import service as audit
from fleet.db import flush_or_conflict, utcnow
from fleet.errors import Conflict, NotFound, ValidationFailed
from fleet.models import (
    Device,
    DeviceSoftware,
    RolloutTarget,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
)
from fleet.software.batch import DEVICE_SOFTWARE, SoftwareChangeBatch, expire_device_software
from fleet.software.queries import (
    latest_rollback_point,
    unfinished_of_software,
    version_and_software,
    versions_of_software,
)
from fleet.software.semver import compatibility_problem, version_key
from fleet.software.states import (
    ACTIONS,
    FINISHED,
    REOPEN,
    Move,
    Policy,
    check_moves,
    installation_values,
    log_entry,
    plan_problem,
)

# Hot-path statements, built once: building a statement costs about as much as running it.
# Core UPDATEs take their SET columns from the parameters given with them.
_INSTALLATIONS = cast(Table, SoftwareInstallation.__table__)
_UPDATE_INSTALLATION_IF = update(_INSTALLATIONS).where(
    _INSTALLATIONS.c.id == bindparam("iid"), _INSTALLATIONS.c.status == bindparam("old")
)
_UPDATE_DEVICE_SOFTWARE = update(DEVICE_SOFTWARE).where(
    DEVICE_SOFTWARE.c.device_id == bindparam("did"),
    DEVICE_SOFTWARE.c.software_id == bindparam("sid"),
)


async def create_installation(
    session: AsyncSession,
    *,
    device_id: int,
    version_id: int,
    action: str,
    initiated_by: int | None,
    ip: str | None,
    rollout_id: int | None = None,
) -> SoftwareInstallation:
    """Create a pending installation, or refuse it with the reason (see the module contract)."""
    if action not in ACTIONS:
        raise ValidationFailed(f"action must be one of {', '.join(ACTIONS)}")
    device = await session.get(Device, device_id)
    if device is None:
        raise NotFound(f"Device {device_id} not found")
    version, software = await version_and_software(session, version_id)
    current = await session.scalar(
        select(DeviceSoftware)
        .where(DeviceSoftware.device_id == device_id, DeviceSoftware.software_id == software.id)
        .with_for_update()
    )
    has_unfinished = (
        await session.scalar(unfinished_of_software([device_id], software.id).limit(1))
    ) is not None
    point = (
        await latest_rollback_point(session, device_id, software.id)
        if action == "rollback"
        else None
    )
    problem = plan_problem(
        action=action,
        device=device,
        version=version,
        software=software,
        current=current,
        has_unfinished=has_unfinished,
        rollback_point=point,
    )
    if problem:
        raise Conflict(problem)
    installation = add_installation(
        session,
        device=device,
        version=version,
        software=software,
        current=current,
        action=action,
        initiated_by=initiated_by,
        now=utcnow(),
        restores=point,
    )
    # Another request may have created this device's first row for the software just now.
    await flush_or_conflict(
        session, f"device {device.device_number} is being changed by another request; try again"
    )
    if rollout_id is not None:
        await session.execute(
            update(RolloutTarget)
            .where(RolloutTarget.rollout_id == rollout_id, RolloutTarget.device_id == device_id)
            .values(installation_id=installation.id)
        )
    audit.record(
        session,
        "software.installation.create",
        user_id=initiated_by,
        ip_address=ip,
        details={
            "entity": "software_installation",
            "id": installation.id,
            "device_id": device_id,
            "version_id": version_id,
            "action": action,
            "rollout_id": rollout_id,
        },
    )
    return installation


def add_installation(
    session: AsyncSession,
    *,
    device: Device,
    version: SoftwareVersion,
    software: Software,
    current: DeviceSoftware | None,
    action: str,
    initiated_by: int | None,
    now: datetime,
    restores: dict[str, Any] | None = None,
) -> SoftwareInstallation:
    """Add an already-checked pending installation and mark the device's software installing."""
    installation = SoftwareInstallation(
        **installation_values(
            device_id=device.id,
            version=version,
            software_id=software.id,
            current=current,
            action=action,
            initiated_by=initiated_by,
            now=now,
            restores=restores,
        )
    )
    if current is None:
        current = DeviceSoftware(device_id=device.id, software_id=software.id)
        session.add(current)
    session.add(installation)
    current.installation_status = "installing"
    current.last_updated = now
    return installation


async def newer_stable_exists(
    session: AsyncSession,
    software_id: int,
    version_id: int | None,
    device: Device | int,
    batch: SoftwareChangeBatch | None = None,
) -> bool:
    """Tell whether a stable version newer than ``version_id`` fits the device.

    ``device`` may be an id: the device is then loaded only if a newer version restricts
    compatibility. With a ``batch``, each package's versions are read once for all of it.
    """
    rows = await versions_of_software(
        session, software_id, batch.versions if batch is not None else None
    )
    mine = next((r.version_number for r in rows if r.id == version_id), None)
    if mine is None:
        return False
    key = version_key(mine)
    newer = [
        r for r in rows if r.is_stable and not r.is_beta and version_key(r.version_number) > key
    ]
    if not newer:
        return False
    if isinstance(device, int):
        loaded = await session.get(Device, device)
        if loaded is None:
            return False
        device = loaded
    return any(compatibility_problem(r.compatibility, device) is None for r in newer)


async def _apply_to_device(
    session: AsyncSession,
    installation: SoftwareInstallation,
    new_status: str,
    now: datetime,
    error_message: str | None,
    download_only: bool = False,
    batch: SoftwareChangeBatch | None = None,
) -> None:
    point = installation.rollback_point or {}
    software_id = point.get("software_id")
    if software_id is None:
        software_id = await session.scalar(
            select(SoftwareVersion.software_id).where(SoftwareVersion.id == installation.version_id)
        )
    if software_id is None:
        return
    values: dict[str, Any] = {"last_updated": now}
    if new_status == "canceled" or (download_only and new_status == "completed"):
        # A download-only installation changes nothing on the device: it only downloaded.
        values["installation_status"] = point.get("installation_status") or "not_installed"
    elif new_status == "failed":
        values["installation_status"] = "failed"
        values["notes"] = f"installation {installation.id} failed: {error_message or 'no reason'}"
    elif installation.action == "uninstall":
        values.update(
            version_id=None,
            installed_version=None,
            installation_status="not_installed",
            installation_date=now,
        )
    else:
        values.update(
            version_id=installation.version_id,
            installed_version=installation.new_version,
            installation_date=now,
        )
        if installation.action == "rollback":
            values["configuration"] = (point.get("restores") or {}).get("configuration")
        outdated = installation.device_id is not None and await newer_stable_exists(
            session, software_id, installation.version_id, installation.device_id, batch
        )
        values["installation_status"] = "outdated" if outdated else "installed"
    if installation.device_id is None:
        return
    if batch is not None:  # written with the others of the batch when its owner flushes it
        batch.hold(installation.device_id, software_id, values)
        return
    # One UPDATE by the (device, software) key; the row exists since the installation was
    # created, and is made here only if someone removed it meanwhile.
    result = await session.execute(
        _UPDATE_DEVICE_SOFTWARE, {"did": installation.device_id, "sid": software_id, **values}
    )
    assert isinstance(result, CursorResult)
    expire_device_software(session, {(installation.device_id, software_id)})
    if result.rowcount == 0:
        session.add(
            DeviceSoftware(device_id=installation.device_id, software_id=software_id, **values)
        )


async def transition(
    session: AsyncSession,
    installation: SoftwareInstallation,
    new_status: str,
    *,
    policy: Policy,
    batch: SoftwareChangeBatch | None = None,
    log_line: str | None = None,
    error_message: str | None = None,
    progress: int | None = None,
    actor_user_id: int | None = None,
    ip: str | None = None,
    through: str | None = None,
    through_line: str | None = None,
    download_only: bool = False,
) -> SoftwareInstallation:
    """Move an installation to ``new_status`` (see the module contract); illegal moves → 409.

    ``download_only``: the device only downloaded the version (DDI ``update: skip``); its
    completion leaves the device's software as it was.

    ``through`` names a status passed on the way, as when a device reports the end of an
    installation it never reported starting: both moves must be legal, both are logged and
    audited, and the row is written once.

    ``policy``: the rules the move runs through (``fleet.software.policy.INSTALLATION_POLICY``
    in the application); ``batch``: the caller's group commit, which then holds the
    ``device_software`` change until the caller flushes it.
    """
    steps = [through, new_status] if through else [new_status]
    old = installation.status or "pending"
    check_moves(installation.id, old, steps)
    now = utcnow()
    line = log_line
    if progress is not None:
        line = f"{progress}%" + (f" {line}" if line else "")
    if new_status == "failed" and error_message:
        line = (line + " " if line else "") + f"error: {error_message}"
    log = installation.installation_log
    if through:
        log = log_entry(log, now, through, through_line)
    values: dict[str, Any] = {
        "status": new_status,
        "installation_log": log_entry(log, now, new_status, line),
    }
    if new_status in FINISHED:
        values["completed_at"] = now
    if new_status == "failed":
        values["error_message"] = (error_message or "failed without a reason")[:10000]
    move = Move(installation, old, new_status, actor_user_id, ip, batch)
    rules = policy.rules_for(old, new_status)
    # Audit rows wait for the next write, so the rows of one request go out in one INSERT.
    with session.no_autoflush:
        # The rules take their locks first (lock order everywhere: roll-out row, then
        # installation, then groups).
        found = [await rule.before(session, move) for rule in rules]
        result = await session.execute(
            _UPDATE_INSTALLATION_IF, {"iid": installation.id, "old": old, **values}
        )
        assert isinstance(result, CursorResult)
        if result.rowcount != 1:
            raise Conflict(
                f"installation {installation.id} was changed by another request; reload it"
            )
        for key, value in values.items():
            set_committed_value(installation, key, value)
        if new_status in FINISHED:
            await _apply_to_device(
                session, installation, new_status, now, error_message, download_only, batch
            )
    before = old
    for step in steps:
        audit.record(
            session,
            "software.installation.status",
            user_id=actor_user_id,
            ip_address=ip,
            level="WARNING" if step == "failed" else "INFO",
            details={
                "entity": "software_installation",
                "id": installation.id,
                "changes": {"status": {"old": before, "new": step}},
                # A move no user made was reported by the device itself.
                **({} if actor_user_id else {"caused_by_device": installation.device_id}),
            },
        )
        before = step
    for rule, answer in zip(rules, found, strict=True):
        await rule.after(session, move, answer)
    return installation


async def record_progress(
    session: AsyncSession,
    installation: SoftwareInstallation,
    *,
    log_line: str | None = None,
    progress: int | None = None,
) -> SoftwareInstallation:
    """Append a progress line to an in-progress installation's log without changing status."""
    if installation.status != "in_progress":
        raise Conflict(f"installation {installation.id} is {installation.status}, not in_progress")
    line = (f"{progress}% " if progress is not None else "") + (log_line or "")
    installation.installation_log = log_entry(
        installation.installation_log, utcnow(), "in_progress", line.strip() or "progress"
    )
    await session.flush()
    return installation


async def get_installation(session: AsyncSession, installation_id: int) -> SoftwareInstallation:
    """Load an installation or raise NotFound."""
    installation = await session.get(SoftwareInstallation, installation_id)
    if installation is None:
        raise NotFound(f"Installation {installation_id} not found")
    return installation


async def reopen_canceled(
    session: AsyncSession,
    installation: SoftwareInstallation,
    *,
    policy: Policy,
    log_line: str,
    ip: str | None = None,
) -> SoftwareInstallation:
    """Take back a cancellation the device refused (hawkBit: a rejected cancel puts the action
    back to running): ``canceled -> in_progress``, the device's software back to
    ``installing``, and the ``policy``'s rules for the move run (the roll-out group no longer
    counts it as canceled). The device's later
    report then finishes the installation as usual. Only a ``canceled`` installation; 409
    otherwise (conditional UPDATE, as ``transition``)."""
    if installation.status != "canceled":
        raise Conflict(f"installation {installation.id} is {installation.status}, not canceled")
    now = utcnow()
    values: dict[str, Any] = {
        "status": "in_progress",
        "completed_at": None,
        "installation_log": log_entry(installation.installation_log, now, "in_progress", log_line),
    }
    old, new = REOPEN
    move = Move(installation, old, new, None, ip)
    rules = policy.rules_for(old, new)
    with session.no_autoflush:
        found = [await rule.before(session, move) for rule in rules]  # their locks first
        result = await session.execute(
            _UPDATE_INSTALLATION_IF, {"iid": installation.id, "old": old, **values}
        )
        assert isinstance(result, CursorResult)
        if result.rowcount != 1:
            raise Conflict(
                f"installation {installation.id} was changed by another request; reload it"
            )
        for key, value in values.items():
            set_committed_value(installation, key, value)
        software_id = (installation.rollback_point or {}).get("software_id")
        if software_id is not None and installation.device_id is not None:
            await session.execute(
                _UPDATE_DEVICE_SOFTWARE,
                {
                    "did": installation.device_id,
                    "sid": software_id,
                    "installation_status": "installing",
                    "last_updated": now,
                },
            )
            expire_device_software(session, {(installation.device_id, software_id)})
        for rule, answer in zip(rules, found, strict=True):
            await rule.after(session, move, answer)
    audit.record(
        session,
        "software.installation.status",
        ip_address=ip,
        level="WARNING",
        details={
            "entity": "software_installation",
            "id": installation.id,
            "changes": {"status": {"old": "canceled", "new": "in_progress"}},
            "reason": "the device rejected the cancellation",
        },
    )
    return installation
