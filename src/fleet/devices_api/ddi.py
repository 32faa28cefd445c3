"""hawkBit Direct Device Integration (DDI) API: the device side of software installations.

Mounted at the app root as ``/{tenant}/controller/v1/{controllerId}/...`` like hawkBit, so a
stock DDI client (SWUpdate's suricatta, rauc-hawkbit) works unchanged. The controllerId is the
device's ``device_number``; the tenant is matched ignoring case. Each unfinished installation
(oldest first, one at a time) is a DDI action whose id is the installation id; feedback drives
the installation state machine (``fleet.software.installations.transition``). Resources,
fields, links, status codes and vocabulary are hawkBit's (see README, "Connecting devices");
what we add is per-device tokens with rotation, checksum headers on downloads, telemetry,
presence and the group commit of feedback.

This module holds the resources only: each identifies the device, parses its request, calls
one function of ``ddi_service`` (the queries and changes) and shapes the answer with
``ddi_format`` (hawkBit's JSON, ETags and links). The action feedback goes to the
``feedback`` batcher.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.db import commit_early
from fleet.deps import ClientIP, SessionDep, SettingsDep
from fleet.devices_api import ddi_format, ddi_service, presence
from fleet.devices_api.actions import check_controller
from fleet.devices_api.body import body_doc, parse
from fleet.devices_api.credentials import (
    DeviceIdentity,
    authenticate,
    authenticate_gateway,
    gateway_token_of,
)
from fleet.devices_api.ddi_format import json_with_etag
from fleet.devices_api.feedback import FeedbackBatcher, Report
from fleet.devices_api.quotas import Quota
from fleet.devices_api.schemas import (
    DdiActionFeedback,
    DdiAutoConfirm,
    DdiConfigData,
    DdiConfirmationFeedback,
)
from fleet.errors import BadRequestRoute, DomainError, NotFound
from fleet.ops.metrics import DDI_POLLS
from fleet.settings import DdiSettings, Settings
from fleet.state import state_of

BODY_LIMIT = 256 * 1024

# hawkBit's clients take a bad request as 400 (another 4xx means something else to them).
router = APIRouter(
    prefix="/{tenant}/controller/v1/{controllerId}",
    tags=["device API (DDI)"],
    route_class=BadRequestRoute,
)


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


def _answer(request: Request, body: Any) -> Response:
    return json_with_etag(request.headers.get("if-none-match"), body)


@router.get("", response_class=JSONResponse)
async def poll(
    request: Request, session: SessionDep, identity: PollingDeviceDep, ip: ClientIP, tenant: str
) -> Response:
    """Base poll resource: polling interval and links to what the device should do next."""
    DDI_POLLS.inc()
    device = identity.device
    cfg = config_of(request)
    _quota(request, "poll", cfg.poll_quota_per_minute, "polls of a device").hit(device.id)
    state = await ddi_service.poll(session, device, ip)
    base = _base(request, tenant, device.device_number)
    links: dict[str, Any] = {}
    if state.cancel_id is not None:
        links["cancelAction"] = {"href": f"{base}/cancelAction/{state.cancel_id}"}
    elif state.confirm is not None:
        confirm = state.confirm
        links["confirmationBase"] = {
            "href": f"{base}/confirmationBase/{confirm.id}?c={ddi_format.resource_hash(confirm)}"
        }
    elif state.deploy is not None:
        deploy = state.deploy
        links["deploymentBase"] = {
            "href": f"{base}/deploymentBase/{deploy.id}"
            f"?c={ddi_format.resource_hash(deploy, state.deploy_variant)}"
        }
    if state.installed_id is not None:
        links["installedBase"] = {"href": f"{base}/installedBase/{state.installed_id}"}
    if not state.attributes_fresh:
        links["configData"] = {"href": f"{base}/configData"}
    if state.came_online is not None:
        await commit_early(session, "poll-presence")
        await presence.publish_status(state_of(request).events, state.came_online)
    body: dict[str, Any] = {"config": {"polling": {"sleep": cfg.polling_sleep()}}}
    if links:
        body["_links"] = links
    return _answer(request, body)


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
    action = await ddi_service.deployment(
        session, settings, identity, actionId, request.query_params.get("actionHistory")
    )
    base = _base(request, tenant, identity.device.device_number)
    return _answer(request, ddi_format.action_json(action, "deployment", base))


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
    action = await ddi_service.installed(
        session, settings, identity, actionId, request.query_params.get("actionHistory")
    )
    base = _base(request, tenant, identity.device.device_number)
    return _answer(request, ddi_format.action_json(action, "deployment", base))


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
        report.feedback = await parse(request, DdiActionFeedback, BODY_LIMIT)
    except (DomainError, RequestValidationError) as exc:
        report.refusal = exc  # answered after the token checks, like every request
    batcher: FeedbackBatcher = state_of(request).feedback
    await batcher.submit(report)
    return Response(status_code=200)


@router.get("/cancelAction/{actionId}")
async def cancel_action(
    session: SessionDep,
    identity: DeviceDep,
    actionId: str,
) -> dict[str, Any]:
    """Tell the device to stop an action a user canceled."""
    installation, _action = await ddi_service.pending_cancel(session, identity, actionId)
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
    feedback = await parse(request, DdiActionFeedback, BODY_LIMIT)
    await ddi_service.answer_cancel(session, identity, actionId, feedback.status, ip)
    return Response(status_code=200)


# -- confirmationBase -------------------------------------------------------------------------
@router.get("/confirmationBase")
async def confirmation_base(
    request: Request, session: SessionDep, identity: DeviceDep, tenant: str
) -> Response:
    """The device's auto-confirmation state, its switch and the action awaiting confirmation."""
    base = _base(request, tenant, identity.device.device_number)
    row, awaiting = await ddi_service.confirmation_state(session, identity.device_id)
    switch = "deactivateAutoConfirm" if row else "activateAutoConfirm"
    links: dict[str, Any] = {switch: {"href": f"{base}/confirmationBase/{switch}"}}
    if awaiting is not None:
        links["confirmationBase"] = {
            "href": f"{base}/confirmationBase/{awaiting.id}?c={ddi_format.resource_hash(awaiting)}"
        }
    return _answer(request, {"autoConfirm": ddi_format.auto_confirm_json(row), "_links": links})


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
    action = await ddi_service.awaiting_confirmation(
        session, settings, identity, actionId, request.query_params.get("actionHistory")
    )
    base = _base(request, tenant, identity.device.device_number)
    return _answer(request, ddi_format.action_json(action, "confirmation", base))


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
    body = await parse(request, DdiConfirmationFeedback, BODY_LIMIT)
    await ddi_service.confirm(session, identity, actionId, body, ip)
    return Response(status_code=200)


@router.post("/confirmationBase/activateAutoConfirm", openapi_extra=body_doc(DdiAutoConfirm))
async def activate_auto_confirm(
    request: Request, session: SessionDep, identity: DeviceDep, ip: ClientIP
) -> Response:
    """From now on the device confirms every action itself (409 when it already does)."""
    raw = await request.body()
    body = DdiAutoConfirm()
    if raw.strip():
        body = await parse(request, DdiAutoConfirm, BODY_LIMIT)
    await ddi_service.activate_auto_confirm(session, identity.device_id, body, ip)
    return Response(status_code=200)


@router.post("/confirmationBase/deactivateAutoConfirm")
async def deactivate_auto_confirm(
    session: SessionDep, identity: DeviceDep, ip: ClientIP
) -> Response:
    """The device's user confirms each action again."""
    await ddi_service.deactivate_auto_confirm(session, identity.device_id, ip)
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
    await ddi_service.store_attributes(session, identity.device_id, body, ip)
    return Response(status_code=200)


# -- downloads --------------------------------------------------------------------------------
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
    info = await ddi_service.downloadable(session, settings, identity, moduleId)
    base = _base(request, tenant, identity.device.device_number)
    return [ddi_format.artifact_json(info, base, int(moduleId))]


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
    info = await ddi_service.downloadable(session, settings, identity, moduleId)
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
    if if_match is not None and not ddi_format.etag_matches(if_match, etag):
        raise ddi_format.PreconditionFailed(f"The artifact's ETag is {etag}")
    ddi_format.check_range(request.headers.get("range"), info.size)
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
