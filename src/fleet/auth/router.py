"""``/api/v1/auth``: login by password or QR badge, token refresh, logout, role switch."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from pydantic import ValidationError

from fleet.auth import service
from fleet.auth.deps import CurrentPrincipal
from fleet.auth.roles import modules_for
from fleet.auth.schemas import (
    LoginRequest,
    LogoutRequest,
    MeResponse,
    QRLoginRequest,
    RefreshRequest,
    SwitchRoleRequest,
    TokenResponse,
)
from fleet.db import commit_early
from fleet.deps import ClientIP, SessionDep, SettingsDep
from fleet.errors import DomainError, ValidationFailed
from fleet.state import state_of

router = APIRouter(prefix="/auth", tags=["auth"])

_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string"},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            },
            "application/json": {"schema": LoginRequest.model_json_schema()},
        },
    }
}


async def _read_login(request: Request) -> LoginRequest:
    content_type = request.headers.get("content-type", "")
    data: Any
    try:
        if content_type.startswith("application/json"):
            data = json.loads(await request.body())
        else:
            form = await request.form()
            data = {k: v for k, v in form.items() if k in ("username", "password")}
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("Body must be a form or a JSON object") from None
    if not isinstance(data, dict):
        raise ValidationFailed("Body must be a form or a JSON object")
    data = {k: v for k, v in data.items() if k in ("username", "password")}
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(exc.errors(include_url=False, include_context=False)) from None


async def _keep_security_writes(session: SessionDep, op: Awaitable[TokenResponse]) -> TokenResponse:
    """Run an auth operation; on refusal, still commit what it recorded (failures, revocations)."""
    try:
        return await op
    except DomainError:
        await commit_early(session, "auth-refusal")
        raise


def _ctx(request: Request, settings: SettingsDep, ip: str | None) -> service.AuthContext:
    return service.AuthContext(settings=settings, secret=state_of(request).jwt_secret, ip=ip)


@router.post("/login", response_model=TokenResponse, openapi_extra=_LOGIN_BODY)
async def login(
    request: Request, session: SessionDep, settings: SettingsDep, ip: ClientIP
) -> TokenResponse:
    """Log in with username and password (OAuth2 password form, or JSON)."""
    creds = await _read_login(request)
    ctx = _ctx(request, settings, ip)
    return await _keep_security_writes(
        session, service.login_password(session, ctx, creds.username, creds.password)
    )


@router.post("/login/qr", response_model=TokenResponse)
async def login_qr(
    body: QRLoginRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ip: ClientIP,
) -> TokenResponse:
    """Log in with the code of a QR badge (camera or USB scanner)."""
    ctx = _ctx(request, settings, ip)
    return await _keep_security_writes(session, service.login_qr(session, ctx, body.qr_code))


@router.post("/refresh", response_model=TokenResponse)
async def refresh(
    body: RefreshRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ip: ClientIP,
) -> TokenResponse:
    """Trade a refresh token for a new pair; each refresh token works once."""
    ctx = _ctx(request, settings, ip)
    return await _keep_security_writes(session, service.refresh(session, ctx, body.refresh_token))


@router.post("/logout", status_code=204)
async def logout(
    principal: CurrentPrincipal,
    session: SessionDep,
    body: Annotated[LogoutRequest | None, Body()] = None,
) -> None:
    """End this login session; its tokens stop working at once."""
    await service.logout(session, principal, body.refresh_token if body else None)


@router.get("/me", response_model=MeResponse)
async def me(principal: CurrentPrincipal) -> MeResponse:
    """Return the signed-in user, the active role and the modules it reaches."""
    user = principal.user
    return MeResponse(
        id=user.id,
        username=user.username,
        email=user.email,
        role=user.role,
        roles=user.all_roles,
        active_role=principal.active_role,
        modules=modules_for(principal.active_role),
        is_active=bool(user.is_active),
    )


@router.post("/switch-role", response_model=TokenResponse)
async def switch_role(
    body: SwitchRoleRequest,
    principal: CurrentPrincipal,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    ip: ClientIP,
) -> TokenResponse:
    """Act in another of your roles: answers new tokens with that role active."""
    ctx = _ctx(request, settings, ip)
    return await service.switch_role(session, ctx, principal, body.new_role)
