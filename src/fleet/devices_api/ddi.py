"""hawkBit Direct Device Integration (DDI) API: the device side of software installations.

Mounted at the app root as ``/{tenant}/controller/v1/{controllerId}/...`` like hawkBit, so a
stock DDI client (SWUpdate's suricatta, rauc-hawkbit) works unchanged. The controllerId is the
device's ``device_number``; the tenant is matched ignoring case. Each unfinished installation
(oldest first, one at a time) is a DDI action whose id is the installation id; feedback drives
the installation state machine (``transition``). Resources, fields, links, status codes and
vocabulary are hawkBit's (see README, "Connecting devices"); what we add is per-device tokens
with rotation, checksum headers on downloads, telemetry, presence and the group commit of
feedback.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import bindparam, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import changes, record
from fleet.db import lock_row, utcnow
from fleet.deps import ClientIP, SessionDep, SettingsDep
from fleet.devices_api import options as action_options
from fleet.devices_api import presence
from fleet.devices_api.actions import (
    Gone,
    check_controller,
    current_installation,
    own_installation,
    report_line,
    status_row,
)
from fleet.devices_api.artifacts import ArtifactInfo, describe
from fleet.devices_api.body import body_doc, parse_ddi
from fleet.devices_api.credentials import (
    DeviceIdentity,
    authenticate,
    authenticate_gateway,
    gateway_token_of,
)
from fleet.devices_api.feedback import FeedbackBatcher, Report
from fleet.devices_api.options import Options
from fleet.devices_api.quotas import Quota
from fleet.devices_api.schemas import (
    DdiActionFeedback,
    DdiAutoConfirm,
    DdiConfigData,
    DdiConfirmationFeedback,
)
from fleet.errors import BadRequest, Conflict, DomainError, NotFound
from fleet.models import (
    DdiAction,
    DdiActionStatus,
    DeviceAttributes,
    DeviceAutoConfirm,
    DeviceSoftware,
    InstallationOptions,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
)
from fleet.ops.metrics import DDI_POLLS
from fleet.settings import DdiSettings, Settings
from fleet.software.installations import (
    FINISHED,
    UNFINISHED,
    next_pending_for_device,
    reopen_canceled,
)
from fleet.state import state_of

BODY_LIMIT = 256 * 1024

router = APIRouter(prefix="/{tenant}/controller/v1/{controllerId}", tags=["device API (DDI)"])

# Our software categories as hawkBit software module types (the chunk's ``part``).
MODULE_TYPES = {"firmware": "os", "application": "bApp", "driver": "bApp", "tool": "bApp"}
# Our installation statuses in hawkBit's action status vocabulary (``actionHistory.status``).
ACTION_STATUS = {
    "pending": "RUNNING",
    "in_progress": "RUNNING",
    "completed": "FINISHED",
    "failed": "ERROR",
    "canceled": "CANCELED",
}


def module_type(category: str | None) -> str:
    """The hawkBit module type (DDI ``part``) of a software category."""
    return MODULE_TYPES.get((category or "").strip().lower(), "bApp")


def config_of(request: Request) -> DdiSettings:
    return state_of(request).device_api


def _quota(request: Request, name: str, limit: int, what: str) -> Quota:
    quotas = state_of(request).ddi_quotas
    quota = quotas.get(name)
    if quota is None or quota.limit != limit:
        quota = quotas[name] = Quota(limit, what)
    return quota


async def _identify(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    tenant: str,
    controller_id: str,
    authorization: str | None,
    *,
    with_next_action: bool,
    register: bool = False,
) -> DeviceIdentity:
    gateway = gateway_token_of(authorization)
    if gateway is not None:
        if tenant.lower() != settings.tenant.lower():
            raise NotFound(f"Unknown tenant {tenant!r}")
        return await authenticate_gateway(
            session,
            config_of(request).gateway_token,
            gateway,
            controller_id,
            register=register,
            ip=request.client.host if request.client else None,
            with_next_action=with_next_action,
        )
    identity = await authenticate(session, authorization, with_next_action=with_next_action)
    await check_controller(session, settings, identity, tenant, controller_id)
    return identity


async def _device(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant: str,
    controllerId: str,
    authorization: Annotated[str | None, Header()] = None,
) -> DeviceIdentity:
    return await _identify(
        request, session, settings, tenant, controllerId, authorization, with_next_action=False
    )


async def _device_with_action(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant: str,
    controllerId: str,
    authorization: Annotated[str | None, Header()] = None,
) -> DeviceIdentity:
    return await _identify(
        request, session, settings, tenant, controllerId, authorization, with_next_action=True
    )


async def _polling_device(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tenant: str,
    controllerId: str,
    authorization: Annotated[str | None, Header()] = None,
) -> DeviceIdentity:
    # The poll is where hawkBit registers a controller first seen with the gateway token.
    return await _identify(
        request,
        session,
        settings,
        tenant,
        controllerId,
        authorization,
        with_next_action=False,
        register=True,
    )


DeviceDep = Annotated[DeviceIdentity, Depends(_device)]
# For the requests about the device's current action: it comes with the token check.
DeviceActionDep = Annotated[DeviceIdentity, Depends(_device_with_action)]
PollingDeviceDep = Annotated[DeviceIdentity, Depends(_polling_device)]


def _base(request: Request, tenant: str, controller_id: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/{tenant}/controller/v1/{controller_id}"


def _resource_hash(installation: SoftwareInstallation, extra: str = "") -> str:
    key = f"{installation.id}:{installation.version_id}:{installation.action}:{extra}"
    return str(int(hashlib.sha1(key.encode()).hexdigest()[:8], 16))  # noqa: S324


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def json_with_etag(request: Request, body: Any) -> Response:
    """Answer JSON with an ``ETag``; ``304`` when the client's ``If-None-Match`` names it."""
    raw = json.dumps(body, separators=(",", ":"), default=str).encode()
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(raw, media_type="application/json", headers={"ETag": etag})


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
    on_pg = session.bind is not None and session.bind.dialect.name == "postgresql"
    row = (await session.execute(_POLL_STATE[on_pg], {"did": device_id})).one()
    return row[0], bool(row[1]), bool(row[2]), row[3]


async def _auto_confirmed(session: AsyncSession, device_id: int) -> bool:
    return await session.get(DeviceAutoConfirm, device_id) is not None


def _awaits_confirmation(opts: Options, auto_confirmed: bool) -> bool:
    return opts.confirmation_required and opts.confirmed_at is None and not auto_confirmed


@router.get("", response_class=JSONResponse)
async def poll(
    request: Request, session: SessionDep, identity: PollingDeviceDep, ip: ClientIP, tenant: str
) -> Response:
    """Base poll resource: polling interval and links to what the device should do next."""
    DDI_POLLS.inc()
    device = identity.device
    cfg = config_of(request)
    _quota(request, "poll", cfg.poll_quota_per_minute, "polls of a device").hit(device.id)
    changed = await presence.record_poll(session, device, ip)
    base = _base(request, tenant, device.device_number)
    links: dict[str, Any] = {}
    cancel_id, attributes_fresh, has_work, installed_id = await _poll_state(session, device.id)
    if cancel_id is not None:
        links["cancelAction"] = {"href": f"{base}/cancelAction/{cancel_id}"}
    elif has_work:
        current = await next_pending_for_device(session, device.id)
        # An uninstall is not offered over DDI: hawkBit has none, and a stock client would
        # report the artifact-less chunk as a failure (see README, "Connecting devices").
        if current is not None and current.action != "uninstall":
            opts = await action_options.of_installation(session, current.id)
            if _awaits_confirmation(opts, await _auto_confirmed(session, device.id)):
                links["confirmationBase"] = {
                    "href": f"{base}/confirmationBase/{current.id}?c={_resource_hash(current)}"
                }
            else:
                window = action_options.window_available(opts)
                links["deploymentBase"] = {
                    "href": f"{base}/deploymentBase/{current.id}"
                    f"?c={_resource_hash(current, f'{opts.update_type}:{window}')}"
                }
    if installed_id is not None:
        links["installedBase"] = {"href": f"{base}/installedBase/{installed_id}"}
    if not attributes_fresh:
        links["configData"] = {"href": f"{base}/configData"}
    if changed is not None:
        await session.commit()
        await presence.publish_status(state_of(request).events, changed)
    body: dict[str, Any] = {"config": {"polling": {"sleep": cfg.polling_sleep()}}}
    if links:
        body["_links"] = links
    return json_with_etag(request, body)


def _artifact_json(info: ArtifactInfo, base: str, module_id: int) -> dict[str, Any]:
    href = f"{base}/softwaremodules/{module_id}/artifacts/{info.filename}"
    links: dict[str, Any] = {
        "download-http": {"href": href},
        "md5sum-http": {"href": f"{href}.MD5SUM"},
    }
    if href.startswith("https://"):
        links["download"] = {"href": href}
        links["md5sum"] = {"href": f"{href}.MD5SUM"}
    return {
        "filename": info.filename,
        "hashes": {"sha1": info.sha1, "md5": info.md5, "sha256": info.sha256},
        "size": info.size,
        "_links": links,
    }


async def _version_and_software(
    session: AsyncSession, version_id: int | None
) -> tuple[SoftwareVersion, Software]:
    row = (
        await session.execute(
            select(SoftwareVersion, Software)
            .join(Software, Software.id == SoftwareVersion.software_id)
            .where(SoftwareVersion.id == version_id)
        )
    ).first()
    if row is None:
        raise NotFound("The action's software version no longer exists")
    return row[0], row[1]


async def _mark_delivered(session: AsyncSession, installation: SoftwareInstallation) -> None:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        ins(DdiAction)
        .values(
            installation_id=installation.id,
            device_id=installation.device_id,
            delivered_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["installation_id"])
    )


def _history_limit(request: Request) -> int | None:
    """``?actionHistory=N``: N newest messages, a negative N all of them; absent or 0 none."""
    raw = request.query_params.get("actionHistory")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("actionHistory is a number of messages") from None
    if value == 0:
        return None
    return 10_000 if value < 0 else min(value, 10_000)


def _history_message(row: DdiActionStatus) -> str:
    text = f"{row.reported_at.isoformat(timespec='seconds')} {row.kind} {row.execution}"
    if row.finished and row.finished != "none":
        text += f" ({row.finished})"
    if row.code is not None:
        text += f" code {row.code}"
    if row.details:
        text += ": " + "; ".join(row.details)
    return text


async def _action_history(
    session: AsyncSession, installation: SoftwareInstallation, limit: int, cancel_pending: bool
) -> dict[str, Any]:
    rows = await session.scalars(
        select(DdiActionStatus)
        .where(DdiActionStatus.installation_id == installation.id)
        .order_by(DdiActionStatus.id.desc())
        .limit(limit)
    )
    status = ACTION_STATUS.get(installation.status or "pending", "RUNNING")
    if cancel_pending:
        status = "CANCELING"
    return {"status": status, "messages": [_history_message(r) for r in rows]}


async def _action_body(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    tenant: str,
    identity: DeviceIdentity,
    installation: SoftwareInstallation,
    key: str,
) -> dict[str, Any]:
    """An action as hawkBit describes it under ``deployment`` (deploymentBase, installedBase)
    or ``confirmation`` (confirmationBase)."""
    version, software = await _version_and_software(session, installation.version_id)
    base = _base(request, tenant, identity.device.device_number)
    artifacts = []
    if installation.action != "uninstall":
        info = await describe(session, settings, version)
        if info is not None:
            artifacts.append(_artifact_json(info, base, version.id))
    opts = await action_options.of_installation(session, installation.id)
    download, update = action_options.HANDLING[opts.update_type]
    deployment: dict[str, Any] = {"download": download, "update": update}
    if opts.has_window:
        available = action_options.window_available(opts)
        deployment["maintenanceWindow"] = "available" if available else "unavailable"
        if not available:
            deployment["update"] = "skip"  # hawkBit: outside the window, download only
    deployment["chunks"] = [
        {
            "part": module_type(software.category),
            "version": version.version_number,
            "name": software.name,
            "artifacts": artifacts,
            "metadata": [
                {"key": "action", "value": installation.action},
                {"key": "requires_reboot", "value": str(bool(version.requires_reboot)).lower()},
            ],
        }
    ]
    body: dict[str, Any] = {"id": str(installation.id), key: deployment}
    limit = _history_limit(request)
    if limit is not None:
        body["actionHistory"] = await _action_history(session, installation, limit, False)
    return body


@router.get("/deploymentBase/{actionId}")
async def deployment_base(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    identity: DeviceActionDep,
    tenant: str,
    actionId: str,
) -> Response:
    """Describe an action: chunk, artifacts with hashes and download links. A finished action
    is still described (hawkBit answers 200), only the current one counts as delivered."""
    try:
        installation = await current_installation(session, identity, actionId)
    except Gone:
        installation = await own_installation(session, identity, actionId)
    if installation.action == "uninstall" and installation.status not in FINISHED:
        raise NotFound(f"Action {actionId} is an uninstall, which is not offered over DDI")
    body = await _action_body(
        request, session, settings, tenant, identity, installation, "deployment"
    )
    if installation.status not in FINISHED:
        await _mark_delivered(session, installation)
    return json_with_etag(request, body)


@router.get("/installedBase/{actionId}")
async def installed_base(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    identity: DeviceDep,
    tenant: str,
    actionId: str,
) -> Response:
    """Describe an action the device finished successfully (what it runs)."""
    installation = await own_installation(session, identity, actionId)
    if installation.status != "completed" or installation.action == "uninstall":
        raise NotFound(f"Action {actionId} is not an installed one")
    body = await _action_body(
        request, session, settings, tenant, identity, installation, "deployment"
    )
    return json_with_etag(request, body)


@router.post("/deploymentBase/{actionId}/feedback", openapi_extra=body_doc(DdiActionFeedback))
async def deployment_feedback(
    request: Request,
    ip: ClientIP,
    tenant: str,
    controllerId: str,
    actionId: str,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """Take the device's progress or final result for an action. The report is applied with
    those of other devices arriving at the same moment, and answered once committed."""
    cfg = config_of(request)
    # Counted per credential and action (before the batch checks the credential, so a client
    # without this device's token cannot use up the device's quota).
    _quota(request, "feedback", cfg.feedback_quota_per_minute, "reports about an action").hit(
        (hashlib.sha256((authorization or "").encode()).digest()[:16], actionId)
    )
    report = Report(authorization, tenant, controllerId, actionId, ip)
    try:
        report.feedback = await parse_ddi(request, DdiActionFeedback, BODY_LIMIT)
    except (DomainError, RequestValidationError) as exc:
        report.refusal = exc  # answered after the token checks, like every request
    batcher: FeedbackBatcher = state_of(request).feedback
    await batcher.submit(report)
    return Response(status_code=200)


async def _pending_cancel(
    session: AsyncSession, identity: DeviceIdentity, action_id: str
) -> tuple[SoftwareInstallation, DdiAction]:
    installation = await own_installation(session, identity, action_id)
    action = await session.get(DdiAction, installation.id)
    if installation.status != "canceled" or action is None:
        raise NotFound(f"No cancellation for action {action_id}")
    if action.cancel_ack_at is not None:
        raise Gone(f"Cancellation of action {action_id} was already answered")
    return installation, action


@router.get("/cancelAction/{actionId}")
async def cancel_action(
    session: SessionDep,
    identity: DeviceDep,
    actionId: str,
) -> dict[str, Any]:
    """Tell the device to stop an action a user canceled."""
    installation, _action = await _pending_cancel(session, identity, actionId)
    return {"id": str(installation.id), "cancelAction": {"stopId": str(installation.id)}}


@router.post("/cancelAction/{actionId}/feedback", openapi_extra=body_doc(DdiActionFeedback))
async def cancel_feedback(
    request: Request,
    session: SessionDep,
    identity: DeviceDep,
    ip: ClientIP,
    actionId: str,
) -> Response:
    """Take the device's answer to a cancellation, as hawkBit does: ``closed`` (success or
    none) or ``canceled`` confirms it; ``rejected`` or ``closed`` + ``failure`` refuses it, and
    the action runs again (its later success is accepted); anything else is progress."""
    feedback = await parse_ddi(request, DdiActionFeedback, BODY_LIMIT)
    installation, action = await _pending_cancel(session, identity, actionId)
    status = feedback.status
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
    return Response(status_code=200)


# -- confirmationBase -------------------------------------------------------------------------
def _auto_confirm_json(row: DeviceAutoConfirm | None) -> dict[str, Any]:
    if row is None:
        return {"state": "inactive"}
    out: dict[str, Any] = {
        "state": "active",
        "activatedAt": int(row.activated_at.timestamp() * 1000),
    }
    if row.initiator:
        out["initiator"] = row.initiator
    if row.remark:
        out["remark"] = row.remark
    return out


@router.get("/confirmationBase")
async def confirmation_base(
    request: Request, session: SessionDep, identity: DeviceDep, tenant: str
) -> Response:
    """The device's auto-confirmation state, its switch and the action awaiting confirmation."""
    base = _base(request, tenant, identity.device.device_number)
    row = await session.get(DeviceAutoConfirm, identity.device_id)
    links: dict[str, Any] = {
        ("deactivateAutoConfirm" if row else "activateAutoConfirm"): {
            "href": f"{base}/confirmationBase/"
            + ("deactivateAutoConfirm" if row else "activateAutoConfirm")
        }
    }
    current = await next_pending_for_device(session, identity.device_id)
    if current is not None and row is None and current.action != "uninstall":
        opts = await action_options.of_installation(session, current.id)
        if _awaits_confirmation(opts, False):
            links["confirmationBase"] = {
                "href": f"{base}/confirmationBase/{current.id}?c={_resource_hash(current)}"
            }
    return json_with_etag(request, {"autoConfirm": _auto_confirm_json(row), "_links": links})


async def _awaiting(
    session: AsyncSession, identity: DeviceIdentity, action_id: str
) -> tuple[SoftwareInstallation, InstallationOptions]:
    installation = await current_installation(session, identity, action_id)
    row = await session.get(InstallationOptions, installation.id)
    if row is None or not row.confirmation_required or row.confirmed_at is not None:
        raise NotFound(f"Action {action_id} awaits no confirmation")
    return installation, row


@router.get("/confirmationBase/{actionId}")
async def confirmation_action(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    identity: DeviceActionDep,
    tenant: str,
    actionId: str,
) -> Response:
    """Describe an action awaiting the device user's confirmation."""
    installation, _row = await _awaiting(session, identity, actionId)
    body = await _action_body(
        request, session, settings, tenant, identity, installation, "confirmation"
    )
    return json_with_etag(request, body)


@router.post(
    "/confirmationBase/{actionId}/feedback", openapi_extra=body_doc(DdiConfirmationFeedback)
)
async def confirmation_feedback(
    request: Request,
    session: SessionDep,
    identity: DeviceActionDep,
    ip: ClientIP,
    actionId: str,
) -> Response:
    """The device's user confirmed the action (it is then offered as a deploymentBase) or
    denied it (it keeps waiting, as in hawkBit)."""
    body = await parse_ddi(request, DdiConfirmationFeedback, BODY_LIMIT)
    installation, row = await _awaiting(session, identity, actionId)
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
    return Response(status_code=200)


@router.post("/confirmationBase/activateAutoConfirm", openapi_extra=body_doc(DdiAutoConfirm))
async def activate_auto_confirm(
    request: Request, session: SessionDep, identity: DeviceDep, ip: ClientIP
) -> Response:
    """From now on the device confirms every action itself (409 when it already does)."""
    raw = await request.body()
    body = DdiAutoConfirm()
    if raw.strip():
        body = await parse_ddi(request, DdiAutoConfirm, BODY_LIMIT)
    if await session.get(DeviceAutoConfirm, identity.device_id) is not None:
        raise Conflict("Auto-confirmation is already active")
    session.add(
        DeviceAutoConfirm(
            device_id=identity.device_id,
            initiator=body.initiator,
            remark=body.remark,
            activated_at=utcnow(),
        )
    )
    record(
        session,
        "ddi.auto_confirm",
        ip_address=ip,
        details={"entity": "device", "id": identity.device_id, "active": True},
    )
    await session.flush()
    return Response(status_code=200)


@router.post("/confirmationBase/deactivateAutoConfirm")
async def deactivate_auto_confirm(
    session: SessionDep, identity: DeviceDep, ip: ClientIP
) -> Response:
    """The device's user confirms each action again."""
    row = await session.get(DeviceAutoConfirm, identity.device_id)
    if row is not None:
        await session.delete(row)
        record(
            session,
            "ddi.auto_confirm",
            ip_address=ip,
            details={"entity": "device", "id": identity.device_id, "active": False},
        )
        await session.flush()
    return Response(status_code=200)


@router.put("/configData", openapi_extra=body_doc(DdiConfigData))
async def config_data(
    request: Request,
    session: SessionDep,
    identity: DeviceDep,
    ip: ClientIP,
) -> Response:
    """Store the attributes the device reports (hardware revision, serial, firmware, ...)."""
    body = await parse_ddi(request, DdiConfigData, BODY_LIMIT)
    # The row exists and is locked before it is read: two reports of one device must not
    # each merge into the same snapshot (fleet.db.lock_row).
    ins = pg_insert if session.bind and session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        ins(DeviceAttributes)
        .values(device_id=identity.device_id, attributes={}, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["device_id"])
    )
    row = await lock_row(session, DeviceAttributes, identity.device_id)
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
        row = DeviceAttributes(device_id=identity.device_id, attributes=after, updated_at=utcnow())
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
            "id": identity.device_id,
            "mode": body.mode,
            "changes": changes(before, after)
            | {k: {"old": before[k], "new": None} for k in before if k not in after},
        },
    )
    await session.flush()
    return Response(status_code=200)


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


async def _downloadable(
    session: AsyncSession, settings: Any, identity: DeviceIdentity, module_id: str
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


@router.get("/softwaremodules/{moduleId}/artifacts")
async def artifacts(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    identity: DeviceDep,
    tenant: str,
    moduleId: str,
) -> list[dict[str, Any]]:
    """List the artifacts of an assigned or installed software module."""
    info = await _downloadable(session, settings, identity, moduleId)
    base = _base(request, tenant, identity.device.device_number)
    return [_artifact_json(info, base, int(moduleId))]


class RangeNotSatisfiable(DomainError):
    status_code = 416


_RANGE_PART = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def _check_range(header: str | None, size: int) -> None:
    """Refuse (416, as hawkBit) a ``Range`` header that is malformed or outside the file."""
    if header is None:
        return
    unit, _, spec = header.partition("=")
    ok = unit.strip().lower() == "bytes" and bool(spec.strip())
    for part in spec.split(",") if ok else []:
        m = _RANGE_PART.match(part)
        if m is None or (not m.group(1) and not m.group(2)):
            ok = False
            break
        start, end = m.group(1), m.group(2)
        if start and (int(start) >= size or (end and int(end) < int(start))):
            ok = False
            break
        if not start and int(end) == 0:
            ok = False
            break
    if not ok:
        raise RangeNotSatisfiable(
            f"Range {header[:100]!r} is not satisfiable for {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )


class PreconditionFailed(DomainError):
    status_code = 412


@router.get("/softwaremodules/{moduleId}/artifacts/{fileName}", response_model=None)
async def download(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    identity: DeviceDep,
    moduleId: str,
    fileName: str,
) -> Response:
    """Download an artifact (``HEAD``, ``Range``, ``If-Match``) or its ``.MD5SUM`` line."""
    info = await _downloadable(session, settings, identity, moduleId)
    etag = f'"{info.sha1}"'
    if fileName == f"{info.filename}.MD5SUM":
        line = f"{info.md5}  {info.filename}\n".encode()
        return Response(
            b"" if request.method == "HEAD" else line,
            media_type="text/plain",
            headers={
                "Content-Disposition": f'attachment; filename="{info.filename}.MD5SUM"',
                "Content-Length": str(len(line)),
            },
        )
    if fileName != info.filename:
        raise NotFound(f"Artifact {fileName!r} not found")
    if_match = request.headers.get("if-match")
    if if_match is not None and not _etag_matches(if_match, etag):
        raise PreconditionFailed(f"The artifact's ETag is {etag}")
    _check_range(request.headers.get("range"), info.size)
    return FileResponse(
        info.path,
        media_type="application/octet-stream",
        filename=info.filename,
        headers={
            "ETag": etag,
            "X-Checksum-Sha256": info.sha256,
            "X-Checksum-Sha1": info.sha1,
            "X-Checksum-Md5": info.md5,
        },
    )


# HEAD answers the same headers without the body (SWUpdate asks it for the size).
router.add_api_route(
    "/softwaremodules/{moduleId}/artifacts/{fileName}",
    download,
    methods=["HEAD"],
    response_model=None,
    include_in_schema=False,
)
