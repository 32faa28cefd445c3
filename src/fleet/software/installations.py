"""The installation state machine: the one code path every installation status change takes.

Both the maker's ``PATCH /api/v1/fleet-software/installations/{id}`` and the device API (hawkBit
DDI feedback) call these functions, so an installation behaves the same whoever reports it.
None of them commits: the caller's transaction commits or rolls back everything at once
(installation row, ``device_software``, audit row, roll-out counters and the next roll-out group).
Audit rows are only added to the session; they go out with the next flush or the commit.

Contract
--------
``create_installation(session, *, device_id, version_id, action, initiated_by, ip,
rollout_id=None) -> SoftwareInstallation``
    Create a ``pending`` installation. ``action`` is install / update / uninstall / rollback.
    Raises ``NotFound`` (device or version missing), ``ValidationFailed`` (unknown action) or
    ``Conflict`` with the reason: version not compatible with the device, package inactive,
    an unfinished installation of the same software already exists on the device, nothing to
    update/uninstall, version already running, or a rollback whose ``version_id`` is not the
    version of the device's latest ``rollback_point`` for that software. Fills
    ``previous_version`` / ``new_version`` and ``rollback_point`` (``software_id``,
    ``version_id``, ``version``, ``configuration``, ``installation_status`` of the device's
    ``device_software`` row before the change; a rollback adds ``restores``, the point it
    returns to) and moves ``device_software`` to ``installing``.
    With ``rollout_id`` the installation is linked to that roll-out's target row of the device.

``transition(session, installation, new_status, *, log_line=None, error_message=None,
progress=None, actor_user_id=None, ip=None, through=None, through_line=None)
-> SoftwareInstallation``
    Move along ``pending -> in_progress -> completed | failed``; ``canceled`` from ``pending``
    or ``in_progress``. Anything else (including the same status twice, e.g. a second concurrent
    "start") raises ``Conflict``; the status check is a conditional UPDATE, so of two concurrent
    requests exactly one wins. A device that reports the end of an installation it never
    reported starting passes ``through="in_progress"``: both moves, one write. Appends a
    timestamped line to ``installation_log``; ``completed`` sets ``device_software`` to
    ``installed`` (or ``outdated`` when a newer stable compatible version exists) with the new
    version and date — an uninstall to ``not_installed``, a rollback restores the rollback
    point's version and configuration; ``failed`` sets it to ``failed`` and keeps
    ``error_message`` and the log; ``canceled`` restores the status from before. A finished
    installation that belongs to a roll-out updates the roll-out's group counters and lets the
    roll-out advance to its next group, pause or finish — in the same transaction.

``prepare_to_finish(session, installation_ids) -> None``
    For a caller about to finish many installations in one transaction (the batched DDI
    feedback): locks their roll-outs in one query, in roll-out id order, and keeps the versions
    of each package once read; the ``transition`` calls that follow in the session use both
    instead of asking again, and hold their ``device_software`` changes back until
    ``write_held_back(session)`` writes them in one upsert per shape of change (the caller
    calls it before committing; a roll-out group start calls it before it reads). Without it,
    ``transition`` asks and writes for itself: same result.

``record_progress(session, installation, *, log_line=None, progress=None) -> SoftwareInstallation``
    Log a progress report of an ``in_progress`` installation without changing its status.

``next_pending_for_device(session, device_id) -> SoftwareInstallation | None``
    The device's oldest unfinished (``pending`` or ``in_progress``) installation, in creation
    order: what the device should do next.

The artifact a device downloads is streamed by ``fleet.software.artifacts.stream_response``
(HTTP Range, SHA-256 in ``X-Checksum-SHA256``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import CursorResult, Select, Table, bindparam, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from fleet import dialect
from fleet.audit import service as audit
from fleet.db import flush_or_conflict, utcnow
from fleet.errors import Conflict, NotFound, ValidationFailed
from fleet.models import (
    Device,
    DeviceSoftware,
    Rollout,
    RolloutGroup,
    RolloutTarget,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
)
from fleet.software.semver import compatibility_problem, version_key

ACTIONS: Final = ("install", "update", "uninstall", "rollback")
STATUSES: Final = ("pending", "in_progress", "completed", "failed", "canceled")
UNFINISHED: Final = ("pending", "in_progress")
FINISHED: Final = frozenset({"completed", "failed", "canceled"})
ALLOWED: Final[dict[str, frozenset[str]]] = {
    "pending": frozenset({"in_progress", "canceled"}),
    "in_progress": frozenset({"completed", "failed", "canceled"}),
}
DEVICE_STATUSES: Final = ("not_installed", "installing", "installed", "failed", "outdated")
_RUNNING: Final = ("installed", "outdated")
LOG_LINE_MAX = 2000


# The roll-out target of an installation with its roll-out, the roll-out row locked (PostgreSQL).
_ROLLOUT_OF_INSTALLATION = (
    select(RolloutTarget, Rollout)
    .join(Rollout, Rollout.id == RolloutTarget.rollout_id)
    .where(RolloutTarget.installation_id == bindparam("iid"))
    .with_for_update(of=Rollout)
)
_ROLLOUTS_OF_INSTALLATIONS = (
    select(RolloutTarget, Rollout)
    .join(Rollout, Rollout.id == RolloutTarget.rollout_id)
    .where(RolloutTarget.installation_id.in_(bindparam("iids", expanding=True)))
    .order_by(Rollout.id, RolloutTarget.id)
    .with_for_update(of=Rollout)
)


# Hot-path statements, built once: building a statement costs about as much as running it.
# Core UPDATEs take their SET columns from the parameters given with them.
_INSTALLATIONS = cast(Table, SoftwareInstallation.__table__)
_UPDATE_INSTALLATION_IF = update(_INSTALLATIONS).where(
    _INSTALLATIONS.c.id == bindparam("iid"), _INSTALLATIONS.c.status == bindparam("old")
)
_DEVICE_SOFTWARE = cast(Table, DeviceSoftware.__table__)
_UPDATE_DEVICE_SOFTWARE = update(_DEVICE_SOFTWARE).where(
    _DEVICE_SOFTWARE.c.device_id == bindparam("did"),
    _DEVICE_SOFTWARE.c.software_id == bindparam("sid"),
)
_VERSIONS_OF_SOFTWARE = select(
    SoftwareVersion.id,
    SoftwareVersion.version_number,
    SoftwareVersion.compatibility,
    SoftwareVersion.is_stable,
    SoftwareVersion.is_beta,
).where(SoftwareVersion.software_id == bindparam("sid"))


# A caller that finishes many installations in one transaction (the batched DDI feedback) can
# load their roll-outs, locked, in one query and the versions of a package once; ``transition``
# then takes them from the session instead of asking again, and keeps the device_software
# changes back until ``write_held_back`` writes them all at once.
_ROLLOUT_OF = "fleet.rollout_of_installation"
_VERSIONS = "fleet.versions_of_software"
_HELD_BACK = "fleet.device_software_changes"


async def prepare_to_finish(session: AsyncSession, installation_ids: list[int]) -> None:
    """Lock the roll-outs of these installations (in roll-out id order, the lock order
    everywhere) and remember their targets, and remember the versions of each package read
    from now on, for the ``transition`` calls of this transaction."""
    found: dict[int, tuple[RolloutTarget, Rollout] | None] = dict.fromkeys(installation_ids)
    if installation_ids:
        rows = await session.execute(_ROLLOUTS_OF_INSTALLATIONS, {"iids": installation_ids})
        for target, rollout in rows:
            if target.installation_id is not None:
                found[target.installation_id] = (target, rollout)
    session.info[_ROLLOUT_OF] = found
    session.info.setdefault(_VERSIONS, {})
    session.info.setdefault(_HELD_BACK, {})


async def write_held_back(session: AsyncSession) -> None:
    """Write the ``device_software`` changes held back since ``prepare_to_finish``: one upsert
    by (device, software) per shape of change, whatever the number of devices. Anything that
    reads ``device_software`` in such a transaction calls this first."""
    held: dict[tuple[int, int], dict[str, Any]] | None = session.info.get(_HELD_BACK)
    if not held:
        return
    session.info[_HELD_BACK] = {}
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for (device_id, software_id), values in held.items():
        row = {"device_id": device_id, "software_id": software_id, **values}
        shapes.setdefault(tuple(sorted(values)), []).append(row)
    for columns, rows in shapes.items():
        stmt = dialect.insert(session, _DEVICE_SOFTWARE)
        stmt = stmt.on_conflict_do_update(
            index_elements=["device_id", "software_id"],
            set_={column: stmt.excluded[column] for column in columns},
        )
        await session.execute(stmt, rows)
    _expire_device_software(session, set(held))


async def _rollout_of(
    session: AsyncSession, installation_id: int
) -> tuple[RolloutTarget, Rollout] | None:
    known = session.info.get(_ROLLOUT_OF)
    if known is not None and installation_id in known:
        return known.pop(installation_id)
    row = (await session.execute(_ROLLOUT_OF_INSTALLATION, {"iid": installation_id})).first()
    return None if row is None else (row[0], row[1])


def _expire_device_software(session: AsyncSession, keys: set[tuple[int, int]]) -> None:
    """Let the ``device_software`` rows of these (device, software) keys that the session
    holds be reloaded after a Core write."""
    for obj in list(session.identity_map.values()):
        if not isinstance(obj, DeviceSoftware):
            continue
        loaded = inspect(obj).dict  # what is loaded; reading it never goes to the database
        if (loaded.get("device_id"), loaded.get("software_id")) in keys:
            session.expire(obj)


def _log(existing: str | None, now: datetime, status: str, line: str | None) -> str:
    entry = f"{now.isoformat(timespec='seconds')} [{status}]"
    if line:
        entry += " " + line.replace("\r", " ").replace("\n", " ")[:LOG_LINE_MAX]
    return f"{existing}\n{entry}" if existing else entry


def unfinished_for(device_id: int, software_id: int) -> Select[SoftwareInstallation]:
    """Select a device's unfinished installations of one software."""
    return (
        select(SoftwareInstallation)
        .join(SoftwareVersion, SoftwareVersion.id == SoftwareInstallation.version_id)
        .where(
            SoftwareInstallation.device_id == device_id,
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


def plan_problem(
    *,
    action: str,
    device: Device,
    version: SoftwareVersion,
    software: Software,
    current: DeviceSoftware | None,
    has_unfinished: bool,
    rollback_point: dict[str, Any] | None,
) -> str | None:
    """Explain why ``action`` of ``version`` cannot start on ``device`` now, or answer None."""
    if has_unfinished:
        return (
            f"device {device.device_number} already has an unfinished installation "
            f"of {software.name}"
        )
    running = current is not None and current.installation_status in _RUNNING
    runs_version = current.version_id if current is not None and running else None
    if action in ("install", "update"):
        if not software.is_active:
            return f"{software.name} is inactive; activate it before installing its versions"
        problem = compatibility_problem(version.compatibility, device)
        if problem:
            return f"version {version.version_number} is not compatible: {problem}"
        if runs_version == version.id:
            return f"device {device.device_number} already runs {version.version_number}"
        if action == "update" and (current is None or current.version_id is None):
            return f"{software.name} is not installed on {device.device_number}; use install"
    elif action == "uninstall":
        if current is None or current.version_id is None:
            return f"{software.name} is not installed on {device.device_number}"
        if current.version_id != version.id:
            return (
                f"device {device.device_number} runs {current.installed_version}, "
                f"not {version.version_number}"
            )
    elif action == "rollback":
        if not rollback_point or rollback_point.get("version_id") is None:
            return f"nothing to roll back to: {device.device_number} has no earlier version"
        if rollback_point["version_id"] != version.id:
            return (
                f"a rollback returns to the rollback point, version "
                f"{rollback_point.get('version')} (id {rollback_point['version_id']})"
            )
    return None


def new_rollback_point(software_id: int, current: DeviceSoftware | None) -> dict[str, Any]:
    """Record what the device ran before a change."""
    return {
        "software_id": software_id,
        "version_id": current.version_id if current else None,
        "version": current.installed_version if current else None,
        "configuration": current.configuration if current else None,
        "installation_status": (current.installation_status if current else None)
        or "not_installed",
    }


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
    row = (
        await session.execute(
            select(SoftwareVersion, Software)
            .join(Software, Software.id == SoftwareVersion.software_id)
            .where(SoftwareVersion.id == version_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"Software version {version_id} not found")
    version, software = row
    current = await session.scalar(
        select(DeviceSoftware)
        .where(DeviceSoftware.device_id == device_id, DeviceSoftware.software_id == software.id)
        .with_for_update()
    )
    has_unfinished = (
        await session.scalar(unfinished_for(device_id, software.id).limit(1))
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


def installation_values(
    *,
    device_id: int,
    version: SoftwareVersion,
    software_id: int,
    current: DeviceSoftware | None,
    action: str,
    initiated_by: int | None,
    now: datetime,
    restores: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Answer the column values of a new pending installation (``current`` is the device's
    row for the software before the change; a rollback keeps the point it returns to under
    ``rollback_point["restores"]``)."""
    point = new_rollback_point(software_id, current)
    if restores is not None:
        point["restores"] = {k: v for k, v in restores.items() if k != "restores"}
    return {
        "device_id": device_id,
        "version_id": version.id,
        "action": action,
        "status": "pending",
        "initiated_by": initiated_by,
        "started_at": now,
        "previous_version": current.installed_version if current else None,
        "new_version": None if action == "uninstall" else version.version_number,
        "rollback_point": point,
        "installation_log": _log(None, now, "pending", f"{action} {version.version_number}"),
    }


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
    session: AsyncSession, software_id: int, version_id: int | None, device: Device | int
) -> bool:
    """Tell whether a stable version newer than ``version_id`` fits the device.

    ``device`` may be an id: the device is then loaded only if a newer version restricts
    compatibility.
    """
    cache: dict[int, list[Any]] | None = session.info.get(_VERSIONS)
    rows = cache.get(software_id) if cache is not None else None
    if rows is None:
        rows = list((await session.execute(_VERSIONS_OF_SOFTWARE, {"sid": software_id})).all())
        if cache is not None:
            cache[software_id] = rows
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
            session, software_id, installation.version_id, installation.device_id
        )
        values["installation_status"] = "outdated" if outdated else "installed"
    if installation.device_id is None:
        return
    held = session.info.get(_HELD_BACK)
    if held is not None:  # written with the others of the batch (write_held_back)
        held[(installation.device_id, software_id)] = values
        return
    # One UPDATE by the (device, software) key; the row exists since the installation was
    # created, and is made here only if someone removed it meanwhile.
    result = await session.execute(
        _UPDATE_DEVICE_SOFTWARE, {"did": installation.device_id, "sid": software_id, **values}
    )
    assert isinstance(result, CursorResult)
    _expire_device_software(session, {(installation.device_id, software_id)})
    if result.rowcount == 0:
        session.add(
            DeviceSoftware(device_id=installation.device_id, software_id=software_id, **values)
        )


async def transition(
    session: AsyncSession,
    installation: SoftwareInstallation,
    new_status: str,
    *,
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
    """
    steps = [through, new_status] if through else [new_status]
    old = installation.status or "pending"
    before = old
    for step in steps:
        if step not in STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}")
        if step not in ALLOWED.get(before, frozenset()):
            raise Conflict(f"installation {installation.id} cannot move from {before} to {step}")
        before = step
    now = utcnow()
    line = log_line
    if progress is not None:
        line = f"{progress}%" + (f" {line}" if line else "")
    if new_status == "failed" and error_message:
        line = (line + " " if line else "") + f"error: {error_message}"
    log = installation.installation_log
    if through:
        log = _log(log, now, through, through_line)
    values: dict[str, Any] = {
        "status": new_status,
        "installation_log": _log(log, now, new_status, line),
    }
    if new_status in FINISHED:
        values["completed_at"] = now
    if new_status == "failed":
        values["error_message"] = (error_message or "failed without a reason")[:10000]
    target: RolloutTarget | None = None
    rollout: Rollout | None = None
    # Audit rows wait for the next write, so the rows of one request go out in one INSERT.
    with session.no_autoflush:
        if new_status in FINISHED:
            # Lock order everywhere: roll-out row, then installation, then groups.
            found = await _rollout_of(session, installation.id)
            if found is not None:
                target, rollout = found
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
                session, installation, new_status, now, error_message, download_only
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
    if target is not None and rollout is not None:
        from fleet.software import rollouts  # the engine creates installations itself

        cause = rollouts.Cause(
            user_id=actor_user_id,
            ip=ip,
            device_id=installation.device_id if actor_user_id is None else None,
        )
        await rollouts.on_installation_finished(session, target, new_status, rollout, cause)
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
    installation.installation_log = _log(
        installation.installation_log, utcnow(), "in_progress", line.strip() or "progress"
    )
    await session.flush()
    return installation


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
    log_line: str,
    ip: str | None = None,
) -> SoftwareInstallation:
    """Take back a cancellation the device refused (hawkBit: a rejected cancel puts the action
    back to running): ``canceled -> in_progress``, the device's software back to
    ``installing``, and the roll-out group no longer counts it as canceled. The device's later
    report then finishes the installation as usual. Only a ``canceled`` installation; 409
    otherwise (conditional UPDATE, as ``transition``)."""
    if installation.status != "canceled":
        raise Conflict(f"installation {installation.id} is {installation.status}, not canceled")
    now = utcnow()
    values: dict[str, Any] = {
        "status": "in_progress",
        "completed_at": None,
        "installation_log": _log(installation.installation_log, now, "in_progress", log_line),
    }
    with session.no_autoflush:
        found = await _rollout_of(session, installation.id)  # locks the roll-out first
        result = await session.execute(
            _UPDATE_INSTALLATION_IF, {"iid": installation.id, "old": "canceled", **values}
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
            _expire_device_software(session, {(installation.device_id, software_id)})
        if found is not None:
            target, _rollout = found
            await session.execute(
                update(RolloutGroup)
                .where(RolloutGroup.id == target.group_id, RolloutGroup.canceled_count > 0)
                .values(canceled_count=RolloutGroup.canceled_count - 1)
                .execution_options(synchronize_session="fetch")
            )
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
