"""What the hawkBit DDI resources do: their queries and their changes, without HTTP.

Each resource in ``ddi`` parses its request, calls one function here and shapes the answer
with ``ddi_format``. The functions take the session and plain values, raise a ``DomainError``
for a refusal, and leave committing to the request (audit rows are only added to the
session, like everywhere). The action feedback of ``deploymentBase`` is the exception: it is
applied in batches (``feedback``, ``actions.apply_feedback``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import dialect
from fleet.audit.service import changes, record
from fleet.db import lock_row, utcnow
from fleet.devices_api import options as action_options
from fleet.devices_api import presence
from fleet.devices_api.actions import (
    Gone,
    current_installation,
    own_installation,
    report_line,
    status_row,
)
from fleet.devices_api.artifacts import ArtifactInfo, describe
from fleet.devices_api.credentials import DeviceIdentity
from fleet.devices_api.options import Options
from fleet.devices_api.schemas import (
    DdiAutoConfirm,
    DdiConfigData,
    DdiConfirmationFeedback,
    DdiStatus,
)
from fleet.errors import BadRequest, Conflict, NotFound
from fleet.models import (
    DdiAction,
    DdiActionStatus,
    Device,
    DeviceAttributes,
    DeviceAutoConfirm,
    DeviceSoftware,
    InstallationOptions,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
)
from fleet.settings import Settings
from fleet.software.installations import reopen_canceled
from fleet.software.policy import INSTALLATION_POLICY
from fleet.software.queries import next_pending_for_device, version_and_software
from fleet.software.states import FINISHED, UNFINISHED


# -- the poll ---------------------------------------------------------------------------------
def _poll_state_statement(relaxed_commit: bool) -> Any:
    device_id: Any = bindparam("did")
    cancel = (
        select(DdiAction.installation_id)
        .join(SoftwareInstallation, SoftwareInstallation.id == DdiAction.installation_id)
        .where(
            DdiAction.device_id == device_id,
            DdiAction.cancel_ack_at.is_(None),
            SoftwareInstallation.status == "canceled",
        )
        .order_by(DdiAction.installation_id)
        .limit(1)
        .scalar_subquery()
    )
    # When the device last finished an installation: its attributes are asked for again after
    # every successful one (its software version changed).
    last_success = (
        select(func.max(SoftwareInstallation.completed_at))
        .where(
            SoftwareInstallation.device_id == device_id,
            SoftwareInstallation.status == "completed",
        )
        .scalar_subquery()
    )
    attributes_fresh = (
        select(DeviceAttributes.device_id)
        .where(
            DeviceAttributes.device_id == device_id,
            or_(last_success.is_(None), DeviceAttributes.updated_at >= last_success),
        )
        .exists()
    )
    # Whether there is any unfinished installation at all: in the steady state of a fleet there
    # is none, and the state machine's own next_pending_for_device is asked only when there is.
    has_work = (
        select(SoftwareInstallation.id)
        .where(
            SoftwareInstallation.device_id == device_id,
            SoftwareInstallation.status.in_(UNFINISHED),
        )
        .exists()
    )
    installed = (
        select(SoftwareInstallation.id)
        .where(
            SoftwareInstallation.device_id == device_id,
            SoftwareInstallation.status == "completed",
            SoftwareInstallation.action != "uninstall",
        )
        .order_by(SoftwareInstallation.completed_at.desc(), SoftwareInstallation.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    columns: list[Any] = [cancel, attributes_fresh, has_work, installed]
    if relaxed_commit:
        # A poll only refreshes last_seen: losing the last instant of that in a crash is
        # harmless, so its commit need not wait for the disk (set here, saving a round trip).
        columns.append(func.set_config("synchronous_commit", "off", True))
    return select(*columns)


_POLL_STATE = {False: _poll_state_statement(False), True: _poll_state_statement(True)}


async def _poll_state(
    session: AsyncSession, device_id: int
) -> tuple[int | None, bool, bool, int | None]:
    """In one query: the canceled action awaiting an answer, whether the attributes are known
    and newer than the last success, whether any installation is unfinished, the last one
    installed."""
    on_pg = dialect.is_postgres(session)
    row = (await session.execute(_POLL_STATE[on_pg], {"did": device_id})).one()
    return row[0], bool(row[1]), bool(row[2]), row[3]


def _awaits_confirmation(opts: Options, auto_confirmed: bool) -> bool:
    return opts.confirmation_required and opts.confirmed_at is None and not auto_confirmed


@dataclass
class PollState:
    """What a poll tells the device: at most one of a cancellation to answer (``cancel_id``),
    an action to confirm (``confirm``) or one to deploy (``deploy``, its links' variant in
    ``deploy_variant``); its last installed action; whether its attributes are wanted; and
    the presence change to publish once the poll is committed (``came_online``)."""

    came_online: dict[str, Any] | None = None
    cancel_id: int | None = None
    confirm: SoftwareInstallation | None = None
    deploy: SoftwareInstallation | None = None
    deploy_variant: str = ""
    installed_id: int | None = None
    attributes_fresh: bool = True


async def poll(session: AsyncSession, device: Device, ip: str | None) -> PollState:
    """Record the poll (last seen, address) and answer what the device should do next."""
    state = PollState(came_online=await presence.record_poll(session, device, ip))
    cancel_id, state.attributes_fresh, has_work, state.installed_id = await _poll_state(
        session, device.id
    )
    if cancel_id is not None:
        state.cancel_id = cancel_id
    elif has_work:
        current = await next_pending_for_device(session, device.id)
        # An uninstall is not offered over DDI: hawkBit has none, and a stock client would
        # report the artifact-less chunk as a failure (see README, "Connecting devices").
        if current is not None and current.action != "uninstall":
            opts = await action_options.of_installation(session, current.id)
            auto_confirmed = await session.get(DeviceAutoConfirm, device.id) is not None
            if _awaits_confirmation(opts, auto_confirmed):
                state.confirm = current
            else:
                window = action_options.window_available(opts)
                state.deploy = current
                state.deploy_variant = f"{opts.update_type}:{window}"
    return state


# -- describing an action (deploymentBase, installedBase, confirmationBase) ----------------------
@dataclass
class ActionDescription:
    """An action with what describes it: its version and package, the version's intact
    artifact (None for an uninstall or a missing file), its delivery options and whether its
    maintenance window is open (None without a window), and its newest history entries when
    they were asked for (``?actionHistory=N``)."""

    installation: SoftwareInstallation
    version: SoftwareVersion
    software: Software
    artifact: ArtifactInfo | None
    options: Options
    window_available: bool | None
    history: list[DdiActionStatus] | None


def _history_limit(raw: str | None) -> int | None:
    """``?actionHistory=N``: N newest messages, a negative N all of them; absent or 0 none."""
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("actionHistory is a number of messages") from None
    if value == 0:
        return None
    return 10_000 if value < 0 else min(value, 10_000)


async def _describe_action(
    session: AsyncSession,
    settings: Settings,
    installation: SoftwareInstallation,
    action_history: str | None,
) -> ActionDescription:
    version, software = await version_and_software(
        session, installation.version_id, missing="The action's software version no longer exists"
    )
    artifact = None
    if installation.action != "uninstall":
        artifact = await describe(session, settings, version)
    opts = await action_options.of_installation(session, installation.id)
    window = action_options.window_available(opts) if opts.has_window else None
    history = None
    history_limit = _history_limit(action_history)
    if history_limit is not None:
        rows = await session.scalars(
            select(DdiActionStatus)
            .where(DdiActionStatus.installation_id == installation.id)
            .order_by(DdiActionStatus.id.desc())
            .limit(history_limit)
        )
        history = list(rows)
    return ActionDescription(installation, version, software, artifact, opts, window, history)


async def _mark_delivered(session: AsyncSession, installation: SoftwareInstallation) -> None:
    await session.execute(
        dialect.insert(session, DdiAction)
        .values(
            installation_id=installation.id,
            device_id=installation.device_id,
            delivered_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["installation_id"])
    )


async def deployment(
    session: AsyncSession,
    settings: Settings,
    identity: DeviceIdentity,
    action_id: str,
    action_history: str | None,
) -> ActionDescription:
    """Describe an action for ``deploymentBase``. A finished action is still described
    (hawkBit answers 200), only the current one counts as delivered."""
    try:
        installation = await current_installation(session, identity, action_id)
    except Gone:
        installation = await own_installation(session, identity, action_id)
    if installation.action == "uninstall" and installation.status not in FINISHED:
        raise NotFound(f"Action {action_id} is an uninstall, which is not offered over DDI")
    action = await _describe_action(session, settings, installation, action_history)
    if installation.status not in FINISHED:
        await _mark_delivered(session, installation)
    return action


async def installed(
    session: AsyncSession,
    settings: Settings,
    identity: DeviceIdentity,
    action_id: str,
    action_history: str | None,
) -> ActionDescription:
    """Describe an action the device finished successfully (``installedBase``)."""
    installation = await own_installation(session, identity, action_id)
    if installation.status != "completed" or installation.action == "uninstall":
        raise NotFound(f"Action {action_id} is not an installed one")
    return await _describe_action(session, settings, installation, action_history)


# -- cancelAction -----------------------------------------------------------------------------
async def pending_cancel(
    session: AsyncSession, identity: DeviceIdentity, action_id: str
) -> tuple[SoftwareInstallation, DdiAction]:
    """The canceled action whose cancellation the device has not answered yet (404 / 410)."""
    installation = await own_installation(session, identity, action_id)
    action = await session.get(DdiAction, installation.id)
    if installation.status != "canceled" or action is None:
        raise NotFound(f"No cancellation for action {action_id}")
    if action.cancel_ack_at is not None:
        raise Gone(f"Cancellation of action {action_id} was already answered")
    return installation, action


async def answer_cancel(
    session: AsyncSession,
    identity: DeviceIdentity,
    action_id: str,
    status: DdiStatus,
    ip: str | None,
) -> None:
    """Take the device's answer to a cancellation, as hawkBit does: ``closed`` (success or
    none) or ``canceled`` confirms it; ``rejected`` or ``closed`` + ``failure`` refuses it, and
    the action runs again (its later success is accepted); anything else is progress."""
    installation, action = await pending_cancel(session, identity, action_id)
    rejected = status.execution == "rejected" or (
        status.execution == "closed" and status.result.finished == "failure"
    )
    confirmed = not rejected and status.execution in ("closed", "canceled")
    outcome = "rejected" if rejected else ("confirmed" if confirmed else "proceeding")
    if rejected or confirmed:
        action.cancel_ack_at = utcnow()
        action.cancel_result = outcome
    if rejected:
        await reopen_canceled(
            session,
            installation,
            policy=INSTALLATION_POLICY,
            log_line="device rejected the cancellation: "
            + report_line(status, "continues the installation"),
            ip=ip,
        )
    record(
        session,
        "ddi.cancel_feedback",
        ip_address=ip,
        level="WARNING" if rejected else "INFO",
        details={
            "entity": "software_installation",
            "id": installation.id,
            "execution": status.execution,
            "finished": status.result.finished,
            "code": status.code,
            "outcome": outcome,
            "details": status.details[:10],
        },
    )
    session.add(status_row(installation.id, "cancel", status))
    await session.flush()


# -- confirmationBase -------------------------------------------------------------------------
async def confirmation_state(
    session: AsyncSession, device_id: int
) -> tuple[DeviceAutoConfirm | None, SoftwareInstallation | None]:
    """The device's auto-confirmation (None when inactive) and the action awaiting its user's
    confirmation, if any (none while auto-confirmation is active)."""
    row = await session.get(DeviceAutoConfirm, device_id)
    current = await next_pending_for_device(session, device_id)
    if current is not None and row is None and current.action != "uninstall":
        opts = await action_options.of_installation(session, current.id)
        if _awaits_confirmation(opts, False):
            return row, current
    return row, None


async def _awaiting(
    session: AsyncSession, identity: DeviceIdentity, action_id: str
) -> tuple[SoftwareInstallation, InstallationOptions]:
    installation = await current_installation(session, identity, action_id)
    row = await session.get(InstallationOptions, installation.id)
    if row is None or not row.confirmation_required or row.confirmed_at is not None:
        raise NotFound(f"Action {action_id} awaits no confirmation")
    return installation, row


async def awaiting_confirmation(
    session: AsyncSession,
    settings: Settings,
    identity: DeviceIdentity,
    action_id: str,
    action_history: str | None,
) -> ActionDescription:
    """Describe the device's current action if it awaits its user's confirmation (404
    otherwise)."""
    installation, _row = await _awaiting(session, identity, action_id)
    return await _describe_action(session, settings, installation, action_history)


async def confirm(
    session: AsyncSession,
    identity: DeviceIdentity,
    action_id: str,
    body: DdiConfirmationFeedback,
    ip: str | None,
) -> None:
    """The device's user confirmed the action (it is then offered as a deploymentBase) or
    denied it (it keeps waiting, as in hawkBit)."""
    installation, row = await _awaiting(session, identity, action_id)
    if body.confirmation == "confirmed":
        row.confirmed_at = utcnow()
    session.add(
        DdiActionStatus(
            installation_id=installation.id,
            kind="confirmation",
            reported_at=utcnow(),
            execution=body.confirmation,
            code=body.code,
            details=[d[:2000] for d in body.details] or None,
        )
    )
    record(
        session,
        "ddi.confirmation",
        ip_address=ip,
        level="INFO" if body.confirmation == "confirmed" else "WARNING",
        details={
            "entity": "software_installation",
            "id": installation.id,
            "confirmation": body.confirmation,
            "code": body.code,
            "details": body.details[:10],
        },
    )
    await session.flush()


async def activate_auto_confirm(
    session: AsyncSession, device_id: int, body: DdiAutoConfirm, ip: str | None
) -> None:
    """From now on the device confirms every action itself (409 when it already does)."""
    if await session.get(DeviceAutoConfirm, device_id) is not None:
        raise Conflict("Auto-confirmation is already active")
    session.add(
        DeviceAutoConfirm(
            device_id=device_id,
            initiator=body.initiator,
            remark=body.remark,
            activated_at=utcnow(),
        )
    )
    record(
        session,
        "ddi.auto_confirm",
        ip_address=ip,
        details={"entity": "device", "id": device_id, "active": True},
    )
    await session.flush()


async def deactivate_auto_confirm(session: AsyncSession, device_id: int, ip: str | None) -> None:
    """The device's user confirms each action again."""
    row = await session.get(DeviceAutoConfirm, device_id)
    if row is not None:
        await session.delete(row)
        record(
            session,
            "ddi.auto_confirm",
            ip_address=ip,
            details={"entity": "device", "id": device_id, "active": False},
        )
        await session.flush()


# -- configData -------------------------------------------------------------------------------
async def store_attributes(
    session: AsyncSession, device_id: int, body: DdiConfigData, ip: str | None
) -> None:
    """Store the attributes the device reports (hardware revision, serial, firmware, ...):
    merged, replacing or removing (``body.mode``); at most 200."""
    # The row exists and is locked before it is read: two reports of one device must not
    # each merge into the same snapshot (fleet.db.lock_row).
    await session.execute(
        dialect.insert(session, DeviceAttributes)
        .values(device_id=device_id, attributes={}, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["device_id"])
    )
    row = await lock_row(session, DeviceAttributes, device_id)
    before: dict[str, Any] = dict(row.attributes) if row is not None else {}
    if body.mode == "replace":
        after = dict(body.data)
    elif body.mode == "remove":
        after = {k: v for k, v in before.items() if k not in body.data}
    else:
        after = {**before, **body.data}
    if len(after) > 200:
        raise BadRequest("A device keeps at most 200 attributes")
    if row is None:
        row = DeviceAttributes(device_id=device_id, attributes=after, updated_at=utcnow())
        session.add(row)
    else:
        row.attributes = after
        row.updated_at = utcnow()
    record(
        session,
        "device.attributes",
        ip_address=ip,
        details={
            "entity": "device",
            "id": device_id,
            "mode": body.mode,
            "changes": changes(before, after)
            | {k: {"old": before[k], "new": None} for k in before if k not in after},
        },
    )
    await session.flush()


# -- downloads --------------------------------------------------------------------------------
_ASSIGNED_OR_INSTALLED = select(
    or_(
        exists().where(
            SoftwareInstallation.device_id == bindparam("did"),
            SoftwareInstallation.version_id == bindparam("vid"),
            SoftwareInstallation.status.in_(UNFINISHED),
            SoftwareInstallation.action != "uninstall",
        ),
        exists().where(
            DeviceSoftware.device_id == bindparam("did"),
            DeviceSoftware.version_id == bindparam("vid"),
            DeviceSoftware.installation_status.in_(("installed", "outdated")),
        ),
    )
)


async def downloadable(
    session: AsyncSession, settings: Settings, identity: DeviceIdentity, module_id: str
) -> ArtifactInfo:
    """The artifact of a version assigned to the device (an unfinished action) or installed on
    it, as hawkBit keeps the artifacts of installed modules downloadable."""
    if not module_id.isdigit() or len(module_id) > 12:
        raise NotFound(f"Software module {module_id!r} not found")
    allowed = await session.scalar(
        _ASSIGNED_OR_INSTALLED, {"did": identity.device_id, "vid": int(module_id)}
    )
    if not allowed:
        raise NotFound(f"Software module {module_id} is not assigned to this device")
    version = await session.get(SoftwareVersion, int(module_id))
    info = await describe(session, settings, version) if version is not None else None
    if info is None:
        raise NotFound(f"Software module {module_id} has no intact artifact")
    return info
