"""Login, token rotation, logout, role switching and login throttling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit import service as audit_log
from fleet.auth import security
from fleet.auth.deps import Principal
from fleet.auth.schemas import TokenResponse, TokenUser
from fleet.db import utcnow
from fleet.errors import Forbidden, TooManyRequests, Unauthorized
from fleet.models import AuthSession, LoginFailure, RefreshToken, User
from fleet.ops.metrics import LOGIN_FAILURES, LOGIN_THROTTLED
from fleet.settings import Settings

BAD_CREDENTIALS = "Incorrect username or password"


@dataclass(frozen=True)
class AuthContext:
    """What the auth service needs from the running app."""

    settings: Settings
    secret: str
    ip: str | None


def _user_payload(user: User, active_role: str) -> TokenUser:
    return TokenUser(
        id=user.id,
        username=user.username,
        email=user.email,
        role=user.role,
        roles=user.all_roles,
        active_role=active_role,
    )


async def _issue(
    session: AsyncSession, ctx: AuthContext, user: User, active_role: str, session_id: str | None
) -> TokenResponse:
    """Mint an access token and a fresh refresh token in a (new or existing) login session."""
    if session_id is None:
        session_id = security.new_session_id()
        session.add(
            AuthSession(id=session_id, user_id=user.id, active_role=active_role, ip_address=ctx.ip)
        )
    refresh = security.new_opaque_token()
    session.add(
        RefreshToken(
            session_id=session_id,
            token_hash=security.token_digest(refresh),
            expires_at=utcnow() + timedelta(days=ctx.settings.refresh_token_days),
        )
    )
    await session.flush()
    minutes = ctx.settings.access_token_minutes
    access = security.create_access_token(
        ctx.secret, user_id=user.id, session_id=session_id, role=active_role, minutes=minutes
    )
    return TokenResponse(
        access_token=access,
        refresh_token=refresh,
        expires_in=minutes * 60,
        user=_user_payload(user, active_role),
    )


async def _trusted(session: AsyncSession, ctx: AuthContext, user: User | None) -> bool:
    """Tell whether ``user`` signed in successfully from the caller's address lately ("his own
    bench"): there, failures elsewhere or by others behind the same address do not lock him out."""
    if user is None or ctx.ip is None:
        return False
    since = utcnow() - timedelta(days=ctx.settings.login_trusted_address_days)
    found = await session.scalar(
        select(AuthSession.id)
        .where(
            AuthSession.user_id == user.id,
            AuthSession.ip_address == ctx.ip,
            AuthSession.created_at >= since,
        )
        .limit(1)
    )
    return found is not None


async def _throttle(
    session: AsyncSession, ctx: AuthContext, username: str | None, trusted: bool
) -> None:
    """Refuse with 429 while recent failures pass a limit (README, "Login throttling").

    1. (username, address): the tight limit; it locks only that user at that address.
    2. username across all addresses: a much higher ceiling against a distributed guess.
    3. address across all usernames: a ceiling against spraying many usernames.
    2 and 3 do not apply where the user signed in successfully lately (``trusted``): a stranger
    cannot lock the real user out of his own bench, nor lock out every known user behind one
    address.
    """
    s = ctx.settings
    window = timedelta(minutes=s.login_window_minutes)
    now = utcnow()
    name = username.lower() if username is not None else None
    checks: list[tuple[list[ColumnElement[bool]], int, str]] = []
    if name is not None and ctx.ip is not None:
        checks.append(
            (
                [LoginFailure.username == name, LoginFailure.ip_address == ctx.ip],
                s.login_max_failures_per_user_address,
                "Too many failed logins for this user from this address; try again later",
            )
        )
    if name is not None and not trusted:
        checks.append(
            (
                [LoginFailure.username == name],
                s.login_max_failures_per_user,
                "Too many failed logins for this user; try again later",
            )
        )
    if ctx.ip is not None and not trusted:
        checks.append(
            (
                [LoginFailure.ip_address == ctx.ip],
                s.login_max_failures_per_ip,
                "Too many failed logins from this address; try again later",
            )
        )
    for conditions, limit, message in checks:
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(LoginFailure.attempted_at)).where(
                    *conditions, LoginFailure.attempted_at >= now - window
                )
            )
        ).one()
        if count >= limit and oldest is not None:
            oldest_at: datetime = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
            retry = int((oldest_at + window - now).total_seconds()) + 1
            LOGIN_THROTTLED.inc()
            raise TooManyRequests(message, retry_after=retry)


async def _fail(
    session: AsyncSession,
    ctx: AuthContext,
    username: str | None,
    method: str,
    user_id: int | None = None,
) -> Unauthorized:
    """Record a failed login (for throttling and the audit log) and return the error to raise."""
    cutoff = utcnow() - timedelta(minutes=ctx.settings.login_window_minutes)
    await session.execute(delete(LoginFailure).where(LoginFailure.attempted_at < cutoff))
    session.add(LoginFailure(username=username.lower() if username else None, ip_address=ctx.ip))
    audit_log.record(
        session,
        "auth.login_failed",
        user_id=user_id,
        ip_address=ctx.ip,
        level="WARNING",
        details={"username": username, "method": method},
    )
    await session.flush()
    LOGIN_FAILURES.inc()
    return Unauthorized(BAD_CREDENTIALS)


async def login_password(
    session: AsyncSession, ctx: AuthContext, username: str, password: str
) -> TokenResponse:
    """Check a username and password; answer tokens with the primary role active."""
    user = await session.scalar(select(User).where(User.username == username))
    await _throttle(session, ctx, username, await _trusted(session, ctx, user))
    ok = await security.verify_password(
        password, user.password_hash if user else None, ctx.settings.bcrypt_rounds
    )
    if user is None or not ok or not user.is_active:
        raise await _fail(session, ctx, username, "password", user.id if user else None)
    # Only this address's failures are forgiven: those from elsewhere still count.
    await session.execute(
        delete(LoginFailure).where(
            LoginFailure.username == username.lower(),
            LoginFailure.ip_address.is_(None)
            if ctx.ip is None
            else LoginFailure.ip_address == ctx.ip,
        )
    )
    audit_log.record(
        session,
        "auth.login",
        user_id=user.id,
        ip_address=ctx.ip,
        details={"method": "password", "active_role": user.role},
    )
    return await _issue(session, ctx, user, user.role, None)


async def login_qr(session: AsyncSession, ctx: AuthContext, code: str) -> TokenResponse:
    """Log in with a QR badge code; failures count against the client address."""
    user = await session.scalar(select(User).where(User.qr_code == code))
    await _throttle(session, ctx, None, await _trusted(session, ctx, user))
    if user is None or not user.is_active:
        raise await _fail(session, ctx, None, "qr", user.id if user else None)
    audit_log.record(
        session,
        "auth.login",
        user_id=user.id,
        ip_address=ctx.ip,
        details={"method": "qr", "active_role": user.role},
    )
    return await _issue(session, ctx, user, user.role, None)


async def revoke_session(session: AsyncSession, session_id: str, reason: str) -> None:
    """End a login session: its access tokens and every refresh token in it stop working."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


async def revoke_user_sessions(session: AsyncSession, user_id: int, reason: str) -> None:
    """End every login session of a user (deactivation, password change)."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


async def refresh(session: AsyncSession, ctx: AuthContext, token: str) -> TokenResponse:
    """Rotate a refresh token; a reused one revokes its whole login session."""
    row = (
        await session.execute(
            select(RefreshToken, AuthSession, User)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .join(User, User.id == AuthSession.user_id)
            .where(RefreshToken.token_hash == security.token_digest(token))
        )
    ).first()
    if row is None:
        raise Unauthorized("Invalid refresh token")
    rt, auth_session, user = row
    if rt.used_at is not None:
        await revoke_session(session, auth_session.id, "refresh_token_reuse")
        audit_log.record(
            session,
            "auth.refresh_reuse",
            user_id=user.id,
            ip_address=ctx.ip,
            level="WARNING",
            details={"session": auth_session.id},
        )
        await session.flush()
        raise Unauthorized("Refresh token already used; the session has been revoked")
    if auth_session.revoked_at is not None:
        raise Unauthorized("Session ended; log in again")
    if rt.expires_at <= utcnow():
        raise Unauthorized("Refresh token expired")
    if not user.is_active:
        raise Unauthorized("Account is deactivated")
    if auth_session.active_role not in user.all_roles:
        raise Forbidden(f"Role '{auth_session.active_role}' is no longer assigned to you")
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == rt.id, RefreshToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Unauthorized("Refresh token already used")
    return await _issue(session, ctx, user, auth_session.active_role, auth_session.id)


async def logout(session: AsyncSession, principal: Principal, refresh_token: str | None) -> None:
    """End the caller's login session (and the one a given refresh token belongs to)."""
    await revoke_session(session, principal.session_id, "logout")
    if refresh_token:
        sid = await session.scalar(
            select(RefreshToken.session_id)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(
                RefreshToken.token_hash == security.token_digest(refresh_token),
                AuthSession.user_id == principal.user_id,
            )
        )
        if sid:
            await revoke_session(session, sid, "logout")
    audit_log.audit_for(principal).record(session, "auth.logout")


async def switch_role(
    session: AsyncSession, ctx: AuthContext, principal: Principal, new_role: str
) -> TokenResponse:
    """Start a new login session with another of the user's roles active."""
    if new_role not in principal.user.all_roles:
        raise Forbidden(f"Role '{new_role}' is not one of your roles")
    user = await session.get(User, principal.user_id)
    if user is None:
        raise Unauthorized("Invalid token")
    await revoke_session(session, principal.session_id, "switch_role")
    audit_log.record(
        session,
        "auth.switch_role",
        user_id=user.id,
        ip_address=ctx.ip,
        details={"from": principal.active_role, "to": new_role},
    )
    return await _issue(session, ctx, user, new_role, None)
