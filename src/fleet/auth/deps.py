"""Who is calling: the principal behind a bearer token, re-checked against the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import bindparam, select

from fleet.auth import security
from fleet.auth.principal_cache import CheckedLogin, PrincipalCache
from fleet.auth.roles import can_access
from fleet.errors import Forbidden, Unauthorized
from fleet.models import AuthSession, User
from fleet.ops.context import set_user as set_log_user
from fleet.state import state_of

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


@dataclass(frozen=True)
class PrincipalUser:
    """The signed-in account as the login check read it (plain values, no ORM object)."""

    id: int
    username: str
    email: str | None
    role: str
    roles: tuple[str, ...]
    is_active: bool

    @property
    def all_roles(self) -> list[str]:
        """Return the primary role and every extra role, primary first, without repeats."""
        out = [self.role]
        out.extend(r for r in self.roles if r not in out)
        return out


@dataclass
class Principal:
    """A signed-in user acting in one of his roles, within one login session."""

    user: PrincipalUser
    active_role: str
    session_id: str
    ip: str | None

    @property
    def user_id(self) -> int:
        return self.user.id

    def can(self, module: str) -> bool:
        """Tell whether the active role reaches ``module``."""
        return can_access(self.active_role, module)


# The columns the check needs, read on a connection outside any transaction (one round trip).
_LOGIN_CHECK = (
    select(
        User.id,
        User.username,
        User.email,
        User.role,
        User.roles,
        User.is_active,
        AuthSession.active_role,
        AuthSession.revoked_at,
    )
    .join(User, User.id == AuthSession.user_id)
    .where(AuthSession.id == bindparam("sid"))
)


async def _check_login(request: Request, session_id: str) -> CheckedLogin | None:
    state = state_of(request)
    cache: PrincipalCache = state.principal_cache

    async def read() -> CheckedLogin | None:
        async with state.read_engine.connect() as conn:
            row = (await conn.execute(_LOGIN_CHECK, {"sid": session_id})).first()
        if row is None:
            return None
        user_id, username, email, role, roles, is_active, active_role, revoked_at = row
        return CheckedLogin(
            user_id=user_id,
            username=username,
            email=email,
            role=role,
            roles=tuple(roles or ()),
            is_active=bool(is_active),
            active_role=active_role,
            revoked=revoked_at is not None,
        )

    # Requests of one session arriving together share one check (see Memo.load).
    return await cache.load(session_id, read)


async def get_principal(
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """Resolve the bearer token; the account, role and login must all still be valid now."""
    if not token:
        raise Unauthorized()
    claims = security.decode_access_token(state_of(request).jwt_secret, token)
    session_id = str(claims["sid"])
    login = await _check_login(request, session_id)
    if login is None:
        raise Unauthorized("Invalid token")
    if str(login.user_id) != claims["sub"] or login.revoked:
        raise Unauthorized("Session ended; log in again")
    if not login.is_active:
        raise Unauthorized("Account is deactivated")
    user = PrincipalUser(
        id=login.user_id,
        username=login.username,
        email=login.email,
        role=login.role,
        roles=login.roles,
        is_active=login.is_active,
    )
    if login.active_role not in user.all_roles:
        raise Forbidden(f"Role '{login.active_role}' is no longer assigned to you")
    ip = request.client.host if request.client else None
    set_log_user(user.id)
    return Principal(user=user, active_role=login.active_role, session_id=session_id, ip=ip)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_module(module: str) -> Callable[[Principal], Awaitable[Principal]]:
    """Build a dependency that lets only active roles reaching ``module`` through."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(module):
            raise Forbidden(f"Role '{principal.active_role}' has no access to {module}")
        return principal

    _check.__name__ = f"require_{module.lower()}"
    return _check


AdminPrincipal = Annotated[Principal, Depends(require_module("ADMIN"))]
