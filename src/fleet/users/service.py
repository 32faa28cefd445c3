"""Users administration: create, change, deactivate, QR badges."""

from __future__ import annotations

import io
from typing import Any

import segno
from sqlalchemy import Select, String, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit import service as audit_log
from fleet.auth import security
from fleet.auth.deps import Principal
from fleet.auth.roles import ROLES, covers
from fleet.auth.service import revoke_user_sessions
from fleet.db import flush_or_conflict
from fleet.errors import Conflict, Forbidden, NotFound
from fleet.models import User
from fleet.search import contains_literal, icontains
from fleet.users.schemas import UserCreate, UserRead, UserUpdate


def to_read(user: User) -> UserRead:
    """Return the admin view of a user; the QR code itself is never part of it."""
    return UserRead(
        id=user.id,
        username=user.username,
        email=user.email,
        role=user.role,
        roles=user.all_roles,
        is_active=bool(user.is_active),
        has_qr_code=user.qr_code is not None,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def query_users(role: str | None, is_active: bool | None, q: str | None) -> Select[User]:
    """Build the filtered user list query."""
    stmt = select(User).order_by(User.username)
    if role:
        stmt = stmt.where(
            or_(User.role == role, contains_literal(cast(User.roles, String), f'"{role}"'))
        )
    if is_active is not None:
        stmt = stmt.where(User.is_active.is_(is_active))
    if q:
        stmt = stmt.where(or_(icontains(User.username, q), icontains(User.email, q)))
    return stmt


async def get_user(session: AsyncSession, user_id: int) -> User:
    """Load a user or raise ``NotFound``."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found")
    return user


def _normalise_roles(primary: str, roles: list[str] | None) -> list[str]:
    out = [primary]
    out.extend(r for r in (roles or []) if r not in out)
    return out


def grantable_roles(actor: Principal) -> list[str]:
    """The roles ``actor`` may grant, remove, or find on an account he changes."""
    return [r for r in ROLES if covers(actor.user.all_roles, r)]


def guard_manage(actor: Principal, target: User) -> None:
    """Refuse to act on another account that holds a role the actor does not hold.

    Changing, resetting the password or badge of (or reading the badge code of),
    deactivating or re-roling an account is a way to take it over, so it needs every role
    that account holds.
    """
    if target.id == actor.user_id:
        return
    beyond = [r for r in target.all_roles if not covers(actor.user.all_roles, r)]
    if beyond:
        raise Forbidden(
            f"{target.username} holds role(s) you do not hold ({', '.join(beyond)}); "
            "only someone who holds all of them may change this account"
        )


def _guard_grant(actor: Principal, target: User | None, new_roles: list[str]) -> None:
    """Only roles the actor holds may be added or removed; nobody widens his own roles.

    The roles added or removed are compared, not the whole resulting set: what stays as it
    was is the business of ``guard_manage``.
    """
    before = set(target.all_roles) if target is not None else set()
    touched = set(new_roles) ^ before
    beyond = [r for r in ROLES if r in touched and not covers(actor.user.all_roles, r)]
    if beyond:
        raise Forbidden(f"You cannot grant or remove roles you do not hold: {', '.join(beyond)}")
    if target is not None and target.id == actor.user_id:
        gained = sorted(set(new_roles) - before)
        if gained:
            raise Forbidden("You cannot raise your own roles")


async def _ensure_unique(
    session: AsyncSession, username: str | None, email: str | None, exclude_id: int | None
) -> None:
    for column, value in ((User.username, username), (User.email, email)):
        if value is None:
            continue
        stmt = select(User.id).where(column == value)
        if exclude_id is not None:
            stmt = stmt.where(User.id != exclude_id)
        if await session.scalar(stmt) is not None:
            raise Conflict(f"A user with this {column.key} already exists")


async def _flush(session: AsyncSession) -> None:
    await flush_or_conflict(session, "Username or email already exists")


async def create_user(
    session: AsyncSession, actor: Principal, data: UserCreate, rounds: int
) -> User:
    """Create a user with a bcrypt-hashed password."""
    roles = _normalise_roles(data.role, data.roles)
    _guard_grant(actor, None, roles)
    await _ensure_unique(session, data.username, data.email, None)
    user = User(
        username=data.username,
        email=data.email,
        role=data.role,
        roles=roles,
        password_hash=await security.hash_password(data.password, rounds),
        is_active=data.is_active,
    )
    session.add(user)
    await _flush(session)
    audit_log.audit_for(actor).record(
        session,
        "user.create",
        details={
            "entity": "user",
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "roles": roles,
        },
    )
    return user


async def update_user(
    session: AsyncSession, actor: Principal, user: User, data: UserUpdate, rounds: int
) -> User:
    """Apply the fields given (PATCH semantics); changing roles or password ends sessions."""
    guard_manage(actor, user)
    fields = data.model_dump(exclude_unset=True)
    before: dict[str, Any] = {
        "email": user.email,
        "role": user.role,
        "roles": user.all_roles,
        "is_active": user.is_active,
    }
    if "role" in fields or "roles" in fields:
        primary = fields.get("role") or user.role
        roles = _normalise_roles(primary, fields.get("roles", user.all_roles))
        _guard_grant(actor, user, roles)
        user.role, user.roles = primary, roles
    if "email" in fields:
        await _ensure_unique(session, None, fields["email"], user.id)
        user.email = fields["email"]
    if fields.get("is_active") is not None:
        if user.id == actor.user_id and not fields["is_active"]:
            raise Conflict("You cannot deactivate yourself")
        user.is_active = fields["is_active"]
    if fields.get("password"):
        user.password_hash = await security.hash_password(fields["password"], rounds)
    after = {
        "email": user.email,
        "role": user.role,
        "roles": user.all_roles,
        "is_active": user.is_active,
    }
    changed = audit_log.changes(before, after)
    if fields.get("password"):
        changed["password"] = {"old": None, "new": None}
    if "password" in changed or not user.is_active:
        await revoke_user_sessions(session, user.id, "account_changed")
    await _flush(session)
    audit_log.audit_for(actor).record(
        session,
        "user.update",
        details={"entity": "user", "id": user.id, "changed": changed},
    )
    return user


async def deactivate_user(session: AsyncSession, actor: Principal, user: User) -> User:
    """Deactivate an account (rows referencing it stay intact) and end its sessions."""
    return await update_user(session, actor, user, UserUpdate(is_active=False), 4)


async def regenerate_qr(session: AsyncSession, actor: Principal, user: User) -> str:
    """Give the user a new QR login code; the old badge stops working."""
    guard_manage(actor, user)
    user.qr_code = security.new_qr_code()
    await _flush(session)
    audit_log.audit_for(actor).record(
        session,
        "user.qr_regenerate",
        details={"entity": "user", "id": user.id},
    )
    return user.qr_code


def badge_image(code: str, fmt: str) -> tuple[bytes, str]:
    """Render a QR badge as PNG or SVG; answers the bytes and the media type."""
    qr = segno.make(code, error="m")
    buf = io.BytesIO()
    if fmt == "svg":
        qr.save(buf, kind="svg", scale=8, border=4)
        return buf.getvalue(), "image/svg+xml"
    qr.save(buf, kind="png", scale=8, border=4)
    return buf.getvalue(), "image/png"
