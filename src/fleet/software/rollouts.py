"""Staged roll-outs: one version to a target set of devices, group after group.

Every bit of state is in the database (``rollouts``, ``rollout_groups`` with outcome counters,
``rollout_targets``), and the engine runs inside the transaction that finishes an installation,
so a restart loses nothing and no timer is needed: its rules (``RULES``, registered in
``fleet.software.policy.INSTALLATION_POLICY``) take part in every move of the installation
state machine (``fleet.software.states``) that ends an installation of a roll-out, or takes
back its cancellation.

A group succeeds when ``completed / devices >= success_threshold`` %; the next group then
starts. A roll-out pauses itself when ``failed / devices > error_threshold`` % in a group, or
when a group finished below its success threshold. Devices that cannot start when their
group starts (an unfinished installation of the same software, no longer compatible) are counted
as failed with the reason kept on their target row; devices that already run the version count
as completed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Select, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from fleet.audit import service as audit
from fleet.db import lock_row, utcnow
from fleet.errors import Conflict, NotFound, ValidationFailed
from fleet.models import (
    Device,
    DeviceSoftware,
    Rollout,
    RolloutGroup,
    RolloutTarget,
    SoftwareInstallation,
    SystemLog,
)
from fleet.software import delivery
from fleet.software.batch import SoftwareChangeBatch
from fleet.software.installations import transition
from fleet.software.queries import unfinished_of_software, version_and_software
from fleet.software.semver import compatibility_problem
from fleet.software.states import (
    FINISHED,
    UNFINISHED,
    Move,
    Policy,
    Rule,
    installation_values,
    plan_problem,
)

ROLLOUT_STATUSES: Final = ("draft", "running", "paused", "finished", "canceled")
MAX_DEVICES: Final = 100_000
_COUNTER = {"completed": "completed_count", "failed": "failed_count", "canceled": "canceled_count"}
_TARGETS = cast(Table, RolloutTarget.__table__)
_LINK_TARGET = update(_TARGETS).where(_TARGETS.c.id == bindparam("tid"))
# One counter UPDATE per finished installation, built once per counter.
_COUNT_FINISHED = {
    status: update(RolloutGroup)
    .where(RolloutGroup.id == bindparam("gid"))
    .values({getattr(RolloutGroup, column): getattr(RolloutGroup, column) + 1})
    .returning(RolloutGroup)
    .execution_options(populate_existing=True)
    for status, column in _COUNTER.items()
}


@dataclass(frozen=True)
class Cause:
    """Who made the roll-out engine move: a user (``user_id``) or a device reporting the end of
    its installation (``device_id``). Every change the engine makes on its own — installations
    it creates, group and roll-out transitions — is audited in the same transaction, in its
    cause's name."""

    user_id: int | None = None
    ip: str | None = None
    device_id: int | None = None

    def details(self) -> dict[str, Any]:
        return {"caused_by_device": self.device_id} if self.device_id is not None else {}


def _audit_change(
    session: AsyncSession,
    cause: Cause,
    action: str,
    entity: str,
    entity_id: int,
    old: str,
    new: str,
    **extra: Any,
) -> None:
    audit.audit_for(cause).record(
        session,
        action,
        level="WARNING" if new in ("paused", "below_threshold") else "INFO",
        details={
            "entity": entity,
            "id": entity_id,
            "changes": {"status": {"old": old, "new": new}},
            **extra,
            **cause.details(),
        },
    )


def _group_moved(
    session: AsyncSession, cause: Cause, rollout: Rollout, group: RolloutGroup, old: str
) -> None:
    _audit_change(
        session,
        cause,
        "software.rollout.group",
        "rollout_group",
        group.id,
        old,
        group.status,
        rollout_id=rollout.id,
        position=group.position,
        counts={
            "devices": group.device_count,
            "completed": group.completed_count,
            "failed": group.failed_count,
            "canceled": group.canceled_count,
        },
    )


def _rollout_moved(
    session: AsyncSession, cause: Cause, rollout: Rollout, action: str, old: str
) -> None:
    extra = {"reason": rollout.pause_reason} if rollout.status == "paused" else {}
    _audit_change(
        session,
        cause,
        f"software.rollout.{action}",
        "rollout",
        rollout.id,
        old,
        rollout.status,
        **extra,
    )


def _target_query(
    device_ids: list[int] | None, flt: dict[str, Any] | None
) -> Select[int, str, str, str | None]:
    stmt = select(Device.id, Device.device_number, Device.device_type, Device.kind_of_device)
    if device_ids is not None:
        stmt = stmt.where(Device.id.in_(device_ids))
    for column in ("device_type", "kind_of_device", "customer_id", "status"):
        value = (flt or {}).get(column)
        if value is not None:
            stmt = stmt.where(getattr(Device, column) == value)
    return stmt.order_by(Device.id)


async def create_rollout(
    session: AsyncSession,
    *,
    name: str | None,
    version_id: int,
    device_ids: list[int] | None,
    flt: dict[str, Any] | None,
    group_size: int,
    success_threshold: int,
    error_threshold: int,
    user_id: int | None,
    ip: str | None,
) -> tuple[Rollout, list[dict[str, Any]]]:
    """Create a draft roll-out, its groups and targets; answers it and the devices left out."""
    version, software = await version_and_software(session, version_id)
    if not software.is_active:
        raise Conflict(f"{software.name} is inactive; activate it before rolling it out")
    if not version.file_path:
        raise Conflict(f"version {version.version_number} has no artifact to roll out")
    rows = (await session.execute(_target_query(device_ids, flt))).all()
    if device_ids is not None:
        missing = sorted(set(device_ids) - {r.id for r in rows})
        if missing:
            raise ValidationFailed(f"devices not found: {missing[:20]}")
    excluded: list[dict[str, Any]] = []
    chosen: list[int] = []
    for r in rows:
        device = Device(id=r.id, device_number=r.device_number, device_type=r.device_type)
        device.kind_of_device = r.kind_of_device
        problem = compatibility_problem(version.compatibility, device)
        if problem:
            excluded.append({"device_id": r.id, "reason": problem})
        else:
            chosen.append(r.id)
    if not chosen:
        raise ValidationFailed("no compatible device matches the roll-out's target")
    if len(chosen) > MAX_DEVICES:
        raise ValidationFailed(f"a roll-out reaches at most {MAX_DEVICES} devices")
    target: dict[str, Any] = (
        {"device_ids": device_ids} if device_ids is not None else {"filter": flt or {}}
    )
    rollout = Rollout(
        name=name or f"{software.name} {version.version_number}",
        version_id=version.id,
        status="draft",
        target=target,
        group_size=group_size,
        success_threshold=success_threshold,
        error_threshold=error_threshold,
        current_group=0,
        total_devices=len(chosen),
        created_by=user_id,
    )
    session.add(rollout)
    await session.flush()
    chunks = [chosen[i : i + group_size] for i in range(0, len(chosen), group_size)]
    groups = [
        RolloutGroup(
            rollout_id=rollout.id,
            position=pos,
            status="waiting",
            device_count=len(chunk),
            completed_count=0,
            failed_count=0,
            canceled_count=0,
        )
        for pos, chunk in enumerate(chunks)
    ]
    session.add_all(groups)
    await session.flush()
    await session.execute(
        insert(RolloutTarget),
        [
            {"rollout_id": rollout.id, "group_id": group.id, "device_id": device_id}
            for group, chunk in zip(groups, chunks, strict=True)
            for device_id in chunk
        ],
    )
    audit.record(
        session,
        "software.rollout.create",
        user_id=user_id,
        ip_address=ip,
        details={
            "entity": "rollout",
            "id": rollout.id,
            "version_id": version.id,
            "devices": len(chosen),
            "groups": len(groups),
            "excluded": len(excluded),
        },
    )
    return rollout, excluded


async def get_rollout(session: AsyncSession, rollout_id: int, *, lock: bool = False) -> Rollout:
    """Load a roll-out (locked and re-read when ``lock``: ``fleet.db.lock_row``) or raise
    NotFound."""
    if lock:
        rollout = await lock_row(session, Rollout, rollout_id)
    else:
        rollout = await session.scalar(select(Rollout).where(Rollout.id == rollout_id))
    if rollout is None:
        raise NotFound(f"Roll-out {rollout_id} not found")
    return rollout


async def _group_at(session: AsyncSession, rollout_id: int, position: int) -> RolloutGroup | None:
    group: RolloutGroup | None = await session.scalar(
        select(RolloutGroup).where(
            RolloutGroup.rollout_id == rollout_id, RolloutGroup.position == position
        )
    )
    return group


async def _start_group(
    session: AsyncSession,
    rollout: Rollout,
    group: RolloutGroup,
    now: datetime,
    cause: Cause,
    batch: SoftwareChangeBatch | None = None,
) -> None:
    """Create the installations of one group in a few statements, whatever its size.
    ``batch``: the group commit this runs in, if any."""
    if batch is not None:
        await batch.flush(session)  # the group's plan reads device_software
    version, software = await version_and_software(session, rollout.version_id)
    targets = list(
        (
            await session.scalars(select(RolloutTarget).where(RolloutTarget.group_id == group.id))
        ).all()
    )
    device_ids = [t.device_id for t in targets]
    devices = {
        d.id: d for d in (await session.scalars(select(Device).where(Device.id.in_(device_ids))))
    }
    current = {
        ds.device_id: ds
        for ds in (
            await session.scalars(
                select(DeviceSoftware).where(
                    DeviceSoftware.device_id.in_(device_ids),
                    DeviceSoftware.software_id == software.id,
                )
            )
        )
    }
    busy = set(
        (
            await session.scalars(
                unfinished_of_software(device_ids, software.id, SoftwareInstallation.device_id)
            )
        ).all()
    )
    planned: list[tuple[RolloutTarget, dict[str, Any]]] = []
    completed = failed = 0
    for target in targets:
        device = devices.get(target.device_id)
        ds = current.get(target.device_id)
        if device is None:
            target.skip_reason = "device no longer exists"
            failed += 1
            continue
        if (
            ds is not None
            and ds.version_id == version.id
            and ds.installation_status
            in (
                "installed",
                "outdated",
            )
        ):
            target.skip_reason = f"already runs {version.version_number}"
            completed += 1
            continue
        action = "update" if ds is not None and ds.version_id is not None else "install"
        problem = plan_problem(
            action=action,
            device=device,
            version=version,
            software=software,
            current=ds,
            has_unfinished=target.device_id in busy,
            rollback_point=None,
        )
        if problem:
            target.skip_reason = problem
            failed += 1
            continue
        planned.append(
            (
                target,
                installation_values(
                    device_id=device.id,
                    version=version,
                    software_id=software.id,
                    current=ds,
                    action=action,
                    initiated_by=rollout.created_by,
                    now=now,
                ),
            )
        )
    # A group is hundreds of devices: insert and update in bulk, not row by row.
    if planned:
        rows = await session.execute(
            insert(SoftwareInstallation).returning(
                SoftwareInstallation.id, SoftwareInstallation.device_id
            ),
            [values for _t, values in planned],
        )
        ids = {device_id: iid for iid, device_id in rows}
        # Each installation the engine creates is audited like one a user creates, in one
        # executemany for the whole group.
        await session.execute(
            insert(SystemLog),
            [
                {
                    "log_level": "INFO",
                    "user_id": cause.user_id,
                    "action": "software.installation.create",
                    "ip_address": cause.ip,
                    "timestamp": now,
                    "details": {
                        "entity": "software_installation",
                        "id": ids[t.device_id],
                        "device_id": t.device_id,
                        "version_id": version.id,
                        "action": values["action"],
                        "rollout_id": rollout.id,
                        "group": group.position,
                        **cause.details(),
                    },
                }
                for t, values in planned
            ],
        )
        # One executemany of plain rows: no per-object bookkeeping for hundreds of targets.
        await session.execute(
            _LINK_TARGET,
            [{"tid": t.id, "installation_id": ids[t.device_id]} for t, _v in planned],
        )
        for target, _values in planned:
            set_committed_value(target, "installation_id", ids[target.device_id])
        new_rows = [
            {
                "device_id": t.device_id,
                "software_id": software.id,
                "installation_status": "installing",
                "last_updated": now,
            }
            for t, _v in planned
            if t.device_id not in current
        ]
        if new_rows:
            await session.execute(insert(DeviceSoftware), new_rows)
        existing = [current[t.device_id].id for t, _v in planned if t.device_id in current]
        for start in range(0, len(existing), 500):
            await session.execute(
                update(DeviceSoftware)
                .where(DeviceSoftware.id.in_(existing[start : start + 500]))
                .values(installation_status="installing", last_updated=now)
                .execution_options(synchronize_session="fetch")
            )
        await delivery.copy_rollout_options(session, rollout.id, group.id)
    old_status = group.status
    group.status = "running"
    group.started_at = now
    group.completed_count += completed
    group.failed_count += failed
    rollout.current_group = group.position
    _group_moved(session, cause, rollout, group, old_status)
    await session.flush()


async def _evaluate(
    session: AsyncSession,
    rollout: Rollout,
    group: RolloutGroup,
    cause: Cause,
    *,
    check_errors: bool = True,
    batch: SoftwareChangeBatch | None = None,
) -> None:
    """Advance, pause or finish the roll-out from one group's counters (each move audited)."""
    now = utcnow()
    while rollout.status == "running" and group.device_count:
        failed_pct = group.failed_count * 100 / group.device_count
        completed_pct = group.completed_count * 100 / group.device_count
        finished = group.completed_count + group.failed_count + group.canceled_count
        if check_errors and failed_pct > rollout.error_threshold:
            rollout.status = "paused"
            rollout.pause_reason = (
                f"group {group.position + 1}: {failed_pct:.1f} % failed, above the error "
                f"threshold of {rollout.error_threshold} %"
            )
            _rollout_moved(session, cause, rollout, "pause", "running")
            return
        if group.status == "running" and completed_pct >= rollout.success_threshold:
            group.status = "succeeded"
            group.finished_at = now
            _group_moved(session, cause, rollout, group, "running")
            if group.position != rollout.current_group:
                return
            following = await _group_at(session, rollout.id, group.position + 1)
            if following is None:
                rollout.status = "finished"
                rollout.finished_at = now
                _rollout_moved(session, cause, rollout, "finish", "running")
                return
            await _start_group(session, rollout, following, now, cause, batch)
            group = following
            continue
        if group.status == "running" and finished >= group.device_count:
            group.status = "below_threshold"
            group.finished_at = now
            _group_moved(session, cause, rollout, group, "running")
            rollout.status = "paused"
            rollout.pause_reason = (
                f"group {group.position + 1} finished with {completed_pct:.1f} % completed, "
                f"below the success threshold of {rollout.success_threshold} %"
            )
            _rollout_moved(session, cause, rollout, "pause", "running")
        return


async def on_installation_finished(
    session: AsyncSession,
    target: RolloutTarget,
    status: str,
    rollout: Rollout | None = None,
    cause: Cause | None = None,
    batch: SoftwareChangeBatch | None = None,
) -> None:
    """Count a finished installation in its group and let the roll-out move on.

    ``rollout`` is the roll-out row already locked by the caller (locked here otherwise);
    ``cause`` who reported the end (the target's device when not given); ``batch`` the group
    commit the report is part of, flushed before a group starts.
    """
    cause = cause or Cause(device_id=target.device_id)
    # Lock order everywhere: the roll-out row first, then its groups (no deadlocks with cancel).
    if rollout is None:
        rollout = await get_rollout(session, target.rollout_id, lock=True)
    group = (await session.scalars(_COUNT_FINISHED[status], {"gid": target.group_id})).one()
    await _evaluate(session, rollout, group, cause, check_errors=status != "canceled", batch=batch)
    # Write what the evaluation changed before anything reads it again (the next counter
    # UPDATE refreshes the group from the database). Usually it changed nothing, and the audit
    # rows can wait for the commit.
    if any(isinstance(obj, (Rollout, RolloutGroup)) for obj in session.dirty):
        await session.flush()


# -- the engine's rules in the installation state machine's policy ----------------------------
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
Found = tuple[RolloutTarget, Rollout] | None


async def _lock_rollouts_of(session: AsyncSession, installation_ids: list[int]) -> dict[int, Found]:
    """The roll-out targets of these installations with their roll-outs, locked in one query
    in roll-out id order (the lock order everywhere); None for one outside any roll-out."""
    found: dict[int, Found] = dict.fromkeys(installation_ids)
    if installation_ids:
        rows = await session.execute(_ROLLOUTS_OF_INSTALLATIONS, {"iids": installation_ids})
        for target, rollout in rows:
            if target.installation_id is not None:
                found[target.installation_id] = (target, rollout)
    return found


async def _lock_rollout_of(session: AsyncSession, move: Move, rule: str) -> Found:
    """The roll-out target of the moving installation with its roll-out, locked: from what
    the rule prepared in the move's batch, or asked now."""
    installation_id = move.installation.id
    known: dict[int, Found] | None = move.batch.prepared.get(rule) if move.batch else None
    if known is not None and installation_id in known:
        return known.pop(installation_id)
    row = (await session.execute(_ROLLOUT_OF_INSTALLATION, {"iid": installation_id})).first()
    return None if row is None else (row[0], row[1])


class CountFinished(Rule):
    """An installation of a roll-out that finishes counts in its group's counters, and the
    roll-out advances to its next group, pauses or finishes (``on_installation_finished``)."""

    name = "rollouts.count_finished"
    from_states = frozenset(UNFINISHED)
    to_states = FINISHED

    async def prepare(self, session: AsyncSession, installation_ids: list[int]) -> Any:
        return await _lock_rollouts_of(session, installation_ids)

    async def before(self, session: AsyncSession, move: Move) -> Found:
        return await _lock_rollout_of(session, move, self.name)

    async def after(self, session: AsyncSession, move: Move, found: Found) -> None:
        if found is None:
            return
        target, rollout = found
        cause = Cause(
            user_id=move.actor_user_id,
            ip=move.ip,
            device_id=move.installation.device_id if move.actor_user_id is None else None,
        )
        await on_installation_finished(session, target, move.new, rollout, cause, move.batch)


class UncountReopened(Rule):
    """A canceled installation of a roll-out taken back (the device refused the cancellation)
    no longer counts as canceled in its group."""

    name = "rollouts.uncount_reopened"
    from_states = frozenset({"canceled"})
    to_states = frozenset({"in_progress"})

    async def before(self, session: AsyncSession, move: Move) -> Found:
        return await _lock_rollout_of(session, move, self.name)

    async def after(self, session: AsyncSession, move: Move, found: Found) -> None:
        if found is None:
            return
        target, _rollout = found
        await session.execute(
            update(RolloutGroup)
            .where(RolloutGroup.id == target.group_id, RolloutGroup.canceled_count > 0)
            .values(canceled_count=RolloutGroup.canceled_count - 1)
            .execution_options(synchronize_session="fetch")
        )


# What the engine registers in the installation policy (``fleet.software.policy``), in order.
RULES: Final[tuple[Rule, ...]] = (CountFinished(), UncountReopened())


def _audit(
    session: AsyncSession,
    rollout: Rollout,
    action: str,
    old: str,
    *,
    user_id: int | None,
    ip: str | None,
) -> None:
    audit.record(
        session,
        f"software.rollout.{action}",
        user_id=user_id,
        ip_address=ip,
        details={
            "entity": "rollout",
            "id": rollout.id,
            "changes": {"status": {"old": old, "new": rollout.status}},
        },
    )


async def start(
    session: AsyncSession, rollout_id: int, *, user_id: int | None, ip: str | None
) -> Rollout:
    """Start a draft roll-out: its first group's installations are created now."""
    rollout = await get_rollout(session, rollout_id, lock=True)
    if rollout.status != "draft":
        raise Conflict(f"roll-out {rollout.id} is {rollout.status}; only a draft can start")
    now = utcnow()
    rollout.status = "running"
    rollout.started_at = now
    rollout.pause_reason = None
    first = await _group_at(session, rollout.id, 0)
    assert first is not None
    cause = Cause(user_id=user_id, ip=ip)
    _audit(session, rollout, "start", "draft", user_id=user_id, ip=ip)
    await _start_group(session, rollout, first, now, cause)
    await _evaluate(session, rollout, first, cause)
    await session.flush()
    return rollout


async def pause(
    session: AsyncSession, rollout_id: int, *, user_id: int | None, ip: str | None
) -> Rollout:
    """Pause a running roll-out: started installations go on, no new group starts."""
    rollout = await get_rollout(session, rollout_id, lock=True)
    if rollout.status != "running":
        raise Conflict(f"roll-out {rollout.id} is {rollout.status}; only a running one pauses")
    rollout.status = "paused"
    rollout.pause_reason = "paused by a user"
    _audit(session, rollout, "pause", "running", user_id=user_id, ip=ip)
    await session.flush()
    return rollout


async def resume(
    session: AsyncSession, rollout_id: int, *, user_id: int | None, ip: str | None
) -> Rollout:
    """Resume a paused roll-out; a group at its success threshold, or whose devices have all
    finished (its outcome accepted), lets the next group start at once."""
    rollout = await get_rollout(session, rollout_id, lock=True)
    if rollout.status != "paused":
        raise Conflict(f"roll-out {rollout.id} is {rollout.status}; only a paused one resumes")
    rollout.status = "running"
    rollout.pause_reason = None
    cause = Cause(user_id=user_id, ip=ip)
    _audit(session, rollout, "resume", "paused", user_id=user_id, ip=ip)
    group = await _group_at(session, rollout.id, rollout.current_group)
    assert group is not None
    done = group.completed_count + group.failed_count + group.canceled_count
    if group.status == "below_threshold" or (
        group.status == "running" and done >= group.device_count
    ):
        # Every device of the group has finished: resuming accepts the outcome and moves on.
        old_status = group.status
        group.status = "accepted"
        group.finished_at = group.finished_at or utcnow()
        _group_moved(session, cause, rollout, group, old_status)
        following = await _group_at(session, rollout.id, group.position + 1)
        if following is None:
            rollout.status = "finished"
            rollout.finished_at = utcnow()
            _rollout_moved(session, cause, rollout, "finish", "running")
        else:
            await _start_group(session, rollout, following, utcnow(), cause)
            await _evaluate(session, rollout, following, cause, check_errors=False)
    else:
        await _evaluate(session, rollout, group, cause, check_errors=False)
    await session.flush()
    return rollout


async def cancel(
    session: AsyncSession,
    rollout_id: int,
    *,
    user_id: int | None,
    ip: str | None,
    policy: Policy,
) -> Rollout:
    """Cancel a roll-out and every installation of it that has not finished (each a move of
    the installation state machine under ``policy``)."""
    rollout = await get_rollout(session, rollout_id, lock=True)
    if rollout.status in ("finished", "canceled"):
        raise Conflict(f"roll-out {rollout.id} is already {rollout.status}")
    old = rollout.status
    rollout.status = "canceled"
    rollout.finished_at = utcnow()
    pending = (
        await session.scalars(
            select(SoftwareInstallation)
            .join(RolloutTarget, RolloutTarget.installation_id == SoftwareInstallation.id)
            .where(
                RolloutTarget.rollout_id == rollout.id,
                SoftwareInstallation.status.in_(UNFINISHED),
            )
            .order_by(SoftwareInstallation.id)
        )
    ).all()
    for installation in pending:
        await transition(
            session,
            installation,
            "canceled",
            policy=policy,
            log_line=f"roll-out {rollout.id} canceled",
            actor_user_id=user_id,
            ip=ip,
        )
    _audit(session, rollout, "cancel", old, user_id=user_id, ip=ip)
    await session.flush()
    return rollout
