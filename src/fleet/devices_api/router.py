"""User-facing device credentials, attributes, presence and telemetry; the device telemetry feed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from sqlalchemy import select

from fleet.auth.deps import CurrentPrincipal, Principal
from fleet.deps import SessionDep
from fleet.devices_api import body, credentials, presence, telemetry
from fleet.devices_api.credentials import DeviceIdentity
from fleet.devices_api.schemas import (
    BATCH_ADAPTER,
    AttributesRead,
    PresenceRead,
    RevokeResult,
    TelemetryAccepted,
    TelemetryRead,
    TokenCreate,
    TokenIssued,
    TokenRead,
)
from fleet.errors import Forbidden
from fleet.models import DeviceAttributes, TelemetrySample, TestReport
from fleet.pagination import PageDep, paginate
from fleet.state import DeviceApiDep, EventBusDep

# Issuing device credentials is a fleet manager's or a maker's job (issue: "a manager or maker").
CREDENTIAL_ROLES = frozenset({"manager", "maker"})

credentials_router = APIRouter(prefix="/fleet-data", tags=["device credentials"])
device_router = APIRouter(prefix="/device-api", tags=["device API"])


ConfigDep = DeviceApiDep


async def _credential_manager(principal: CurrentPrincipal) -> Principal:
    if principal.active_role not in CREDENTIAL_ROLES:
        raise Forbidden(f"Role '{principal.active_role}' cannot manage device credentials")
    return principal


CredentialManager = Annotated[Principal, Depends(_credential_manager)]


def _token_read(row: Any) -> TokenRead:
    from fleet.db import utcnow

    out = TokenRead.model_validate(row)
    now = utcnow()
    out.active = row.revoked_at is None and (row.expires_at is None or row.expires_at > now)
    return out


@credentials_router.post("/devices/{device_id}/token", status_code=201)
async def issue_token(
    device_id: int,
    session: SessionDep,
    principal: CredentialManager,
    cfg: ConfigDep,
    body: TokenCreate | None = None,
) -> TokenIssued:
    """Issue a device token (shown once); earlier tokens stay valid for the grace period."""
    device = await credentials.get_device(session, device_id)
    grace = body.grace_minutes if body and body.grace_minutes is not None else None
    row, plain = await credentials.issue(
        session,
        device,
        grace_minutes=cfg.token_grace_minutes if grace is None else grace,
        user_id=principal.user_id,
        ip=principal.ip,
    )
    return TokenIssued(
        token=plain,
        id=row.id,
        device_id=device.id,
        controller_id=device.device_number,
        created_at=row.created_at,
    )


@credentials_router.get("/devices/{device_id}/tokens")
async def list_tokens(
    device_id: int, session: SessionDep, _principal: CredentialManager
) -> list[TokenRead]:
    """List a device's tokens (prefix and validity, never the token)."""
    await credentials.get_device(session, device_id)
    return [_token_read(t) for t in await credentials.list_tokens(session, device_id)]


@credentials_router.delete("/devices/{device_id}/tokens")
async def revoke_all(
    device_id: int, session: SessionDep, principal: CredentialManager
) -> RevokeResult:
    """Revoke every token of a device at once."""
    device = await credentials.get_device(session, device_id)
    count = await credentials.revoke(
        session, device, token_id=None, user_id=principal.user_id, ip=principal.ip
    )
    return RevokeResult(revoked=count)


@credentials_router.delete("/devices/{device_id}/tokens/{token_id}")
async def revoke_one(
    device_id: int, token_id: int, session: SessionDep, principal: CredentialManager
) -> RevokeResult:
    """Revoke one token of a device at once."""
    device = await credentials.get_device(session, device_id)
    count = await credentials.revoke(
        session, device, token_id=token_id, user_id=principal.user_id, ip=principal.ip
    )
    return RevokeResult(revoked=count)


@credentials_router.get("/devices/{device_id}/attributes")
async def attributes(
    device_id: int, session: SessionDep, _principal: CurrentPrincipal
) -> AttributesRead:
    """Show the attributes the device reported over DDI configData."""
    await credentials.get_device(session, device_id)
    row = await session.get(DeviceAttributes, device_id)
    return AttributesRead(
        device_id=device_id,
        attributes=row.attributes if row else {},
        updated_at=row.updated_at if row else None,
    )


@credentials_router.get("/devices/{device_id}/presence")
async def device_presence(
    device_id: int, session: SessionDep, _principal: CurrentPrincipal, cfg: ConfigDep
) -> PresenceRead:
    """Show whether the device is online, when it was last seen and from where."""
    await credentials.get_device(session, device_id)
    return PresenceRead(**await presence.presence_of(session, device_id, cfg))


@credentials_router.get("/devices/{device_id}/telemetry")
async def device_telemetry(
    device_id: int,
    session: SessionDep,
    _principal: CurrentPrincipal,
    page: PageDep,
    response: Response,
    since: datetime | None = None,
    until: datetime | None = None,
    test_id: Annotated[int | None, Query(ge=1)] = None,
) -> list[TelemetryRead]:
    """List a device's stored samples, oldest first, filtered by time and test."""
    await credentials.get_device(session, device_id)
    stmt = select(TelemetrySample).where(TelemetrySample.device_id == device_id)
    if since is not None:
        stmt = stmt.where(TelemetrySample.t >= since)
    if until is not None:
        stmt = stmt.where(TelemetrySample.t <= until)
    if test_id is not None:
        stmt = stmt.where(TelemetrySample.test_id == test_id)
    rows = await paginate(session, stmt.order_by(TelemetrySample.t), page, response)
    return [TelemetryRead.model_validate(r) for r in rows]


async def current_device(
    session: SessionDep, authorization: Annotated[str | None, Header()] = None
) -> DeviceIdentity:
    """Resolve the calling device from ``Authorization: TargetToken <token>``."""
    return await credentials.authenticate(session, authorization)


DeviceDep = Annotated[DeviceIdentity, Depends(current_device)]


_BATCH_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": BATCH_ADAPTER.json_schema()}},
    }
}


@device_router.post("/telemetry", openapi_extra=_BATCH_DOC)
async def post_telemetry(
    request: Request, session: SessionDep, identity: DeviceDep, cfg: ConfigDep, events: EventBusDep
) -> TelemetryAccepted:
    """Ingest a batch of sensor samples from the calling device (``TargetToken`` auth)."""
    raw = await body.read_limited(request, cfg.max_body_bytes)
    batch = telemetry.parse_batch(raw, cfg.max_batch)
    return await telemetry.ingest(session, events, identity, batch)


@device_router.get("/tests/current")
async def current_test(session: SessionDep, identity: DeviceDep) -> dict[str, Any]:
    """Tell the calling device which test runs on it now (``test_id`` null when none)."""
    report = await session.scalar(
        select(TestReport)
        .where(
            TestReport.device_id == identity.device_id,
            TestReport.status.in_(sorted(telemetry.RUNNING_TEST_STATUSES)),
        )
        .order_by(TestReport.start_time.desc(), TestReport.id.desc())
        .limit(1)
    )
    return {
        "device_id": identity.device_id,
        "test_id": report.id if report else None,
        "started_at": report.start_time if report else None,
    }
