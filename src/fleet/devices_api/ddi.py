"""hawkBit Direct Device Integration (DDI) API: the device side of software installations.

Mounted at the app root as ``/{tenant}/controller/v1/{controllerId}/...`` like hawkBit, so an
existing DDI client works unchanged. The controllerId is the device's ``device_number``. Each
pending installation (oldest first, one at a time) is a DDI action whose id is the installation
id; feedback drives the software module's installation state machine (``transition``).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit.service import changes, record
from fleet.db import lock_row, utcnow
from fleet.deps import ClientIP, SessionDep, SettingsDep
from fleet.devices_api import presence
from fleet.devices_api.actions import (
    Gone,
    check_controller,
    check_feedback_id,
    current_installation,
    own_installation,
)
from fleet.devices_api.artifacts import ArtifactInfo, describe
from fleet.devices_api.body import body_doc, parse
from fleet.devices_api.config import DeviceApiConfig
from fleet.devices_api.credentials import DeviceIdentity, authenticate
from fleet.devices_api.feedback import FeedbackBatcher, Report
from fleet.devices_api.schemas import DdiActionFeedback, DdiConfigData
from fleet.errors import BadRequest, DomainError, NotFound
from fleet.models import (
    DdiAction,
    DeviceAttributes,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
)
from fleet.ops.metrics import DDI_POLLS
from fleet.settings import Settings
from fleet.software.installations import (
    UNFINISHED,
    next_pending_for_device,
)

BODY_LIMIT = 256 * 1024

router = APIRouter(prefix="/{tenant}/controller/v1/{controllerId}", tags=["device API (DDI)"])


def config_of(request: Request) -> DeviceApiConfig:
    cfg: DeviceApiConfig = request.app.state.device_api
    return cfg


async def _device(
    session: SessionDep,
    settings: SettingsDep,
    tenant: str,
    controllerId: str,
    authorization: Annotated[str | None, Header()] = None,
) -> DeviceIdentity:
    return await _identify(session, settings, tenant, controllerId, authorization, False)


async def _device_with_action(
    session: SessionDep,
    settings: SettingsDep,
    tenant: str,
    controllerId: str,
    authorization: Annotated[str | None, Header()] = None,
) -> DeviceIdentity:
    return await _identify(session, settings, tenant, controllerId, authorization, True)


async def _identify(
    session: AsyncSession,
    settings: Settings,
    tenant: str,
    controllerId: str,
    authorization: str | None,
    with_next_action: bool,
) -> DeviceIdentity:
    identity = await authenticate(session, authorization, with_next_action=with_next_action)
    await check_controller(session, settings, identity, tenant, controllerId)
    return identity


DeviceDep = Annotated[DeviceIdentity, Depends(_device)]
# For the requests about the device's current action: it comes with the token check.
DeviceActionDep = Annotated[DeviceIdentity, Depends(_device_with_action)]


def _base(request: Request, tenant: str, controller_id: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/{tenant}/controller/v1/{controller_id}"


def _resource_hash(installation: SoftwareInstallation) -> str:
    key = f"{installation.id}:{installation.version_id}:{installation.action}"
    return str(int(hashlib.sha1(key.encode()).hexdigest()[:8], 16))  # noqa: S324


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
    has_attributes = (
        select(DeviceAttributes.device_id).where(DeviceAttributes.device_id == device_id).exists()
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
    columns: list[Any] = [cancel, has_attributes, has_work]
    if relaxed_commit:
        # A poll only refreshes last_seen: losing the last instant of that in a crash is
        # harmless, so its commit need not wait for the disk (set here, saving a round trip).
        columns.append(func.set_config("synchronous_commit", "off", True))
    return select(*columns)


_POLL_STATE = {False: _poll_state_statement(False), True: _poll_state_statement(True)}


async def _poll_state(session: AsyncSession, device_id: int) -> tuple[int | None, bool, bool]:
    """In one query: the canceled action awaiting an answer, whether attributes are known,
    whether any installation is unfinished."""
    on_pg = session.bind is not None and session.bind.dialect.name == "postgresql"
    row = (await session.execute(_POLL_STATE[on_pg], {"did": device_id})).one()
    return row[0], bool(row[1]), bool(row[2])


@router.get("", response_class=JSONResponse)
async def poll(
    request: Request, session: SessionDep, identity: DeviceDep, ip: ClientIP, tenant: str
) -> JSONResponse:
    """Base poll resource: polling interval and links to what the device should do next."""
    DDI_POLLS.inc()
    device = identity.device
    cfg = config_of(request)
    changed = await presence.record_poll(session, device, ip)
    base = _base(request, tenant, device.device_number)
    links: dict[str, Any] = {}
    cancel_id, has_attributes, has_work = await _poll_state(session, device.id)
    if cancel_id is not None:
        links["cancelAction"] = {"href": f"{base}/cancelAction/{cancel_id}"}
    elif has_work:
        current = await next_pending_for_device(session, device.id)
        if current is not None:
            links["deploymentBase"] = {
                "href": f"{base}/deploymentBase/{current.id}?c={_resource_hash(current)}"
            }
    if not has_attributes:
        links["configData"] = {"href": f"{base}/configData"}
    if changed is not None:
        await session.commit()
        await presence.publish_status(request.app.state.events, changed)
    body: dict[str, Any] = {"config": {"polling": {"sleep": cfg.polling_sleep()}}}
    if links:
        body["_links"] = links
    return JSONResponse(body)  # plain data: skip the response-model machinery on the hot path


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


@router.get("/deploymentBase/{actionId}")
async def deployment_base(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    identity: DeviceActionDep,
    tenant: str,
    actionId: str,
) -> dict[str, Any]:
    """Describe the pending installation: chunk, artifacts with hashes and download links."""
    installation = await current_installation(session, identity, actionId)
    version, software = await _version_and_software(session, installation.version_id)
    base = _base(request, tenant, identity.device.device_number)
    artifacts = []
    if installation.action != "uninstall":
        info = await describe(session, settings, version)
        if info is not None:
            artifacts.append(_artifact_json(info, base, version.id))
    await _mark_delivered(session, installation)
    return {
        "id": str(installation.id),
        "deployment": {
            "download": "forced",
            "update": "forced",
            "chunks": [
                {
                    "part": (software.category or "os").lower(),
                    "version": version.version_number,
                    "name": software.name,
                    "artifacts": artifacts,
                    "metadata": [
                        {"key": "action", "value": installation.action},
                        {"key": "requires_reboot", "value": str(bool(version.requires_reboot))},
                    ],
                }
            ],
        },
        "actionHistory": {
            "status": installation.status,
            "messages": (installation.installation_log or "").splitlines()[-10:],
        },
    }


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
    report = Report(authorization, tenant, controllerId, actionId, ip)
    try:
        report.feedback = await parse(request, DdiActionFeedback, BODY_LIMIT)
    except (DomainError, RequestValidationError) as exc:
        report.refusal = exc  # answered after the token checks, like every request
    batcher: FeedbackBatcher = request.app.state.feedback
    await batcher.submit(report)
    return Response(status_code=200)


@router.get("/cancelAction/{actionId}")
async def cancel_action(
    session: SessionDep,
    identity: DeviceDep,
    actionId: str,
) -> dict[str, Any]:
    """Tell the device to stop an action a user canceled."""
    installation = await own_installation(session, identity, actionId)
    action = await session.get(DdiAction, installation.id)
    if installation.status != "canceled" or action is None:
        raise NotFound(f"No cancellation for action {actionId}")
    if action.cancel_ack_at is not None:
        raise Gone(f"Cancellation of action {actionId} was already confirmed")
    return {"id": str(installation.id), "cancelAction": {"stopId": str(installation.id)}}


@router.post("/cancelAction/{actionId}/feedback", openapi_extra=body_doc(DdiActionFeedback))
async def cancel_feedback(
    request: Request,
    session: SessionDep,
    identity: DeviceDep,
    ip: ClientIP,
    actionId: str,
) -> Response:
    """Take the device's answer to a cancellation (confirmed, rejected or still working)."""
    feedback = await parse(request, DdiActionFeedback, BODY_LIMIT)
    check_feedback_id(feedback, actionId)
    installation = await own_installation(session, identity, actionId)
    action = await session.get(DdiAction, installation.id)
    if installation.status != "canceled" or action is None:
        raise NotFound(f"No cancellation for action {actionId}")
    if action.cancel_ack_at is not None:
        raise Gone(f"Cancellation of action {actionId} was already confirmed")
    status = feedback.status
    if status.execution == "closed" and status.result.finished == "none":
        raise BadRequest("A closed cancellation needs result.finished 'success' or 'failure'")
    final = status.execution in ("closed", "canceled", "rejected")
    outcome = (
        "rejected"
        if status.execution == "rejected" or status.result.finished == "failure"
        else ("confirmed" if final else "proceeding")
    )
    if final:
        action.cancel_ack_at = utcnow()
        action.cancel_result = outcome
    record(
        session,
        "ddi.cancel_feedback",
        ip_address=ip,
        level="WARNING" if outcome == "rejected" else "INFO",
        details={
            "entity": "software_installation",
            "id": installation.id,
            "execution": status.execution,
            "finished": status.result.finished,
            "outcome": outcome,
            "details": status.details[:10],
        },
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
    body = await parse(request, DdiConfigData, BODY_LIMIT)
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


async def _downloadable(
    session: AsyncSession, settings: Any, identity: DeviceIdentity, module_id: str
) -> ArtifactInfo:
    """The artifact of a version the device has an unfinished action for."""
    if not module_id.isdigit() or len(module_id) > 12:
        raise NotFound(f"Software module {module_id!r} not found")
    current = await next_pending_for_device(session, identity.device_id)
    if current is None or current.version_id != int(module_id) or current.action == "uninstall":
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
    """List the artifacts of an assigned software module."""
    info = await _downloadable(session, settings, identity, moduleId)
    base = _base(request, tenant, identity.device.device_number)
    return [_artifact_json(info, base, int(moduleId))]


@router.get("/softwaremodules/{moduleId}/artifacts/{fileName}", response_model=None)
async def download(
    session: SessionDep,
    settings: SettingsDep,
    identity: DeviceDep,
    moduleId: str,
    fileName: str,
) -> Response:
    """Download an artifact (HTTP Range supported) or its ``.MD5SUM`` line."""
    info = await _downloadable(session, settings, identity, moduleId)
    if fileName == f"{info.filename}.MD5SUM":
        return PlainTextResponse(f"{info.md5}  {info.filename}\n")
    if fileName != info.filename:
        raise NotFound(f"Artifact {fileName!r} not found")
    return FileResponse(
        info.path,
        media_type="application/octet-stream",
        filename=info.filename,
        headers={
            "ETag": f'"{info.sha1}"',
            "X-Checksum-Sha256": info.sha256,
            "X-Checksum-Sha1": info.sha1,
            "X-Checksum-Md5": info.md5,
        },
    )
