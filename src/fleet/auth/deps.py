"""Who is calling: the principal behind a bearer token, re-checked against the database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select

from fleet.auth import security
from fleet.auth.roles import can_access
from fleet.deps import SessionDep
from fleet.errors import Forbidden, Unauthorized
from fleet.models import AuthSession, User
from fleet.ops.context import set_user as set_log_user

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


@dataclass
class Principal:
    """A signed-in user acting in one of his roles, within one login session."""

    user: User
    active_role: str
    session_id: str
    ip: str | None

    @property
    def user_id(self) -> int:
        return self.user.id

    def can(self, module: str) -> bool:
        """Tell whether the active role reaches ``module``."""
        return can_access(self.active_role, module)


async def get_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    """Resolve the bearer token; the account, role and login must all still be valid now."""
    if not token:
        raise Unauthorized()
    claims = security.decode_access_token(request.app.state.jwt_secret, token)
    row = (
        await session.execute(
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.id == claims["sid"])
        )
    ).first()
    if row is None:
        raise Unauthorized("Invalid token")
    auth_session, user = row
    if str(user.id) != claims["sub"] or auth_session.revoked_at is not None:
        raise Unauthorized("Session ended; log in again")
    if not user.is_active:
        raise Unauthorized("Account is deactivated")
    if auth_session.active_role not in user.all_roles:
        raise Forbidden(f"Role '{auth_session.active_role}' is no longer assigned to you")
    ip = request.client.host if request.client else None
    set_log_user(user.id)
    return Principal(
        user=user, active_role=auth_session.active_role, session_id=auth_session.id, ip=ip
    )


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
