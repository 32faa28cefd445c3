"""Device tokens: issued once, stored as SHA-256 digests, revocable, rotated with a grace period.

A device sends ``Authorization: TargetToken <token>`` (the DDI convention). Tokens are 256-bit
random strings, so a fast digest is the right storage (no dictionary to protect against) and a
lookup by digest is one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from fleet import dialect
from fleet.audit.service import record
from fleet.db import utcnow
from fleet.errors import NotFound, Unauthorized
from fleet.models import Device, DeviceToken, SoftwareInstallation
from fleet.software.states import UNFINISHED

TOKEN_PREFIX = "fdt_"  # noqa: S105 - a marker, not a secret
SCHEME = "TargetToken"
GATEWAY_SCHEME = "GatewayToken"


class DeviceUnauthorized(Unauthorized):
    """No, a malformed, an unknown, a revoked or an expired device token."""

    def __init__(self, detail: Any = "Device token required") -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": SCHEME}


@dataclass
class DeviceIdentity:
    """The device behind a valid token (and, when asked for, its current action)."""

    device: Device
    token_id: int  # 0 when the device came in with the gateway token
    next_action: SoftwareInstallation | None = None
    next_action_loaded: bool = False

    @property
    def device_id(self) -> int:
        return self.device.id


def digest(token: str) -> str:
    """Return the SHA-256 hex digest a token is stored under."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """Return a fresh device token (256 bits of randomness)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_authorization(header: str | None) -> str:
    """Extract the token from ``TargetToken <token>``; anything else is 401."""
    if not header:
        raise DeviceUnauthorized()
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != SCHEME.lower() or not value or len(value) > 200:
        raise DeviceUnauthorized("Use 'Authorization: TargetToken <token>'")
    return value


def _valid_now(now: Any) -> Any:
    return (DeviceToken.revoked_at.is_(None)) & (
        or_(DeviceToken.expires_at.is_(None), DeviceToken.expires_at > now)
    )


def _authenticate_statement(token_matches: Any) -> Any:
    return (
        select(DeviceToken.id, Device)
        .join(Device, Device.id == DeviceToken.device_id)
        .where(token_matches, _valid_now(bindparam("now", type_=DeviceToken.expires_at.type)))
    )


def _with_next_action(stmt: Any) -> Any:
    """Add the device's oldest unfinished installation (what it works on) as a column."""
    following = aliased(SoftwareInstallation)
    return stmt.add_columns(SoftwareInstallation).outerjoin(
        SoftwareInstallation,
        SoftwareInstallation.id
        == (
            select(following.id)
            .where(following.device_id == Device.id, following.status.in_(UNFINISHED))
            .order_by(following.id)
            .limit(1)
            .correlate(Device)
            .scalar_subquery()
        ),
    )


# Built once: every poll authenticates, and building a statement costs more than running it.
_ONE_TOKEN = DeviceToken.token_hash == bindparam("digest")
_AUTHENTICATE = _authenticate_statement(_ONE_TOKEN)
# The requests about an action need the device's current action too: same round trip.
_AUTHENTICATE_WITH_ACTION = _with_next_action(_AUTHENTICATE)
_AUTHENTICATE_MANY_WITH_ACTION = _with_next_action(
    _authenticate_statement(DeviceToken.token_hash.in_(bindparam("digests", expanding=True)))
).add_columns(DeviceToken.token_hash)


async def authenticate(
    session: AsyncSession, header: str | None, *, with_next_action: bool = False
) -> DeviceIdentity:
    """Resolve a ``TargetToken`` header to its device, or raise 401; ``with_next_action``
    loads the device's oldest unfinished installation along with it."""
    token = parse_authorization(header)
    stmt = _AUTHENTICATE_WITH_ACTION if with_next_action else _AUTHENTICATE
    row = (await session.execute(stmt, {"digest": digest(token), "now": utcnow()})).first()
    if row is None:
        raise DeviceUnauthorized("Invalid, revoked or expired device token")
    if with_next_action:
        return DeviceIdentity(
            device=row[1], token_id=row[0], next_action=row[2], next_action_loaded=True
        )
    return DeviceIdentity(device=row[1], token_id=row[0])


async def authenticate_with_actions(
    session: AsyncSession, headers: list[str | None]
) -> list[DeviceIdentity | DeviceUnauthorized]:
    """Resolve many ``TargetToken`` headers in one query, each to its device with the device's
    current action, or to the 401 it earns. A device named twice gets its action loaded only
    the first time: by the second report, the first may have finished it."""
    digests: list[str | DeviceUnauthorized] = []
    for header in headers:
        try:
            digests.append(digest(parse_authorization(header)))
        except DeviceUnauthorized as exc:
            digests.append(exc)
    wanted = sorted({d for d in digests if isinstance(d, str)})
    found: dict[str, Any] = {}
    if wanted:
        rows = await session.execute(
            _AUTHENTICATE_MANY_WITH_ACTION, {"digests": wanted, "now": utcnow()}
        )
        found = {row[3]: row for row in rows}
    seen: set[int] = set()
    answers: list[DeviceIdentity | DeviceUnauthorized] = []
    for key in digests:
        if isinstance(key, DeviceUnauthorized):
            answers.append(key)
            continue
        row = found.get(key)
        if row is None:
            answers.append(DeviceUnauthorized("Invalid, revoked or expired device token"))
            continue
        first = row[1].id not in seen
        seen.add(row[1].id)
        answers.append(
            DeviceIdentity(
                device=row[1],
                token_id=row[0],
                next_action=row[2] if first else None,
                next_action_loaded=first,
            )
        )
    return answers


def gateway_token_of(header: str | None) -> str | None:
    """The token of an ``Authorization: GatewayToken <t>`` header, None for any other header."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != GATEWAY_SCHEME.lower():
        return None
    return value.strip()


async def authenticate_gateway(
    session: AsyncSession,
    configured: str | None,
    presented: str,
    controller_id: str,
    *,
    register: bool,
    ip: str | None,
    with_next_action: bool = False,
) -> DeviceIdentity:
    """Let the holder of the gateway token act as controller ``controller_id``; an unknown
    controller is registered as a new device when ``register`` (its first poll), audited.
    401 when gateway tokens are off or the token is wrong; 404 for an unknown controller
    otherwise."""
    if not configured:
        raise DeviceUnauthorized("Gateway tokens are not enabled on this server")
    if not secrets.compare_digest(presented.encode(), configured.encode()):
        raise DeviceUnauthorized("Invalid gateway token")
    if not controller_id or len(controller_id) > 100 or not controller_id.isprintable():
        raise NotFound(f"Unknown controller {controller_id[:100]!r}")
    device = await session.scalar(select(Device).where(Device.device_number == controller_id))
    if device is None:
        if not register:
            raise NotFound(f"Unknown controller {controller_id!r}")
        device = await _register(session, controller_id, ip)
    identity = DeviceIdentity(device=device, token_id=0)
    if with_next_action:
        identity.next_action = await session.scalar(
            select(SoftwareInstallation)
            .where(
                SoftwareInstallation.device_id == device.id,
                SoftwareInstallation.status.in_(UNFINISHED),
            )
            .order_by(SoftwareInstallation.id)
            .limit(1)
        )
        identity.next_action_loaded = True
    return identity


async def _register(session: AsyncSession, controller_id: str, ip: str | None) -> Device:
    """A new device for a controller first seen through the gateway token (audited)."""
    # Two first polls of the same controller at once: one registers it, both use it.
    await session.execute(
        dialect.insert(session, Device)
        .values(
            device_number=controller_id,
            device_type="ddi_controller",
            status="active",
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["device_number"])
    )
    device = await session.scalar(select(Device).where(Device.device_number == controller_id))
    assert device is not None
    record(
        session,
        "device.registered",
        ip_address=ip,
        details={
            "entity": "device",
            "id": device.id,
            "device_number": controller_id,
            "by": "gateway token (first DDI poll)",
        },
    )
    await session.flush()
    return device


async def get_device(session: AsyncSession, device_id: int) -> Device:
    """Load a device or raise 404."""
    device = await session.get(Device, device_id)
    if device is None:
        raise NotFound(f"Device {device_id} not found")
    return device


async def issue(
    session: AsyncSession,
    device: Device,
    *,
    grace_minutes: int,
    user_id: int | None,
    ip: str | None,
) -> tuple[DeviceToken, str]:
    """Issue a new token for a device; the tokens it replaces stay valid for the grace period."""
    now = utcnow()
    until = now + timedelta(minutes=grace_minutes)
    rotated = await session.execute(
        update(DeviceToken)
        .where(
            DeviceToken.device_id == device.id,
            _valid_now(now),
            or_(DeviceToken.expires_at.is_(None), DeviceToken.expires_at > until),
        )
        .values(expires_at=until)
        .execution_options(synchronize_session=False)
    )
    plain = new_token()
    row = DeviceToken(
        device_id=device.id,
        token_hash=digest(plain),
        prefix=plain[:12],
        created_by=user_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    record(
        session,
        "device.token_issued",
        user_id=user_id,
        ip_address=ip,
        details={
            "entity": "device",
            "id": device.id,
            "device_number": device.device_number,
            "credential_id": row.id,
            "rotated": getattr(rotated, "rowcount", 0) or 0,
            "grace_minutes": grace_minutes,
        },
    )
    return row, plain


async def list_tokens(session: AsyncSession, device_id: int) -> list[DeviceToken]:
    """List a device's tokens (never their values), newest first."""
    rows = await session.scalars(
        select(DeviceToken)
        .where(DeviceToken.device_id == device_id)
        .order_by(DeviceToken.created_at.desc(), DeviceToken.id.desc())
    )
    return list(rows)


async def revoke(
    session: AsyncSession,
    device: Device,
    *,
    token_id: int | None,
    user_id: int | None,
    ip: str | None,
) -> int:
    """Revoke one token (or all of a device's tokens) at once; answers how many were revoked."""
    now = utcnow()
    stmt = update(DeviceToken).where(
        DeviceToken.device_id == device.id, DeviceToken.revoked_at.is_(None)
    )
    if token_id is not None:
        exists = await session.scalar(
            select(DeviceToken.id).where(
                DeviceToken.id == token_id, DeviceToken.device_id == device.id
            )
        )
        if exists is None:
            raise NotFound(f"Token {token_id} of device {device.id} not found")
        stmt = stmt.where(DeviceToken.id == token_id)
    result = await session.execute(
        stmt.values(revoked_at=now).execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    record(
        session,
        "device.token_revoked",
        user_id=user_id,
        ip_address=ip,
        details={
            "entity": "device",
            "id": device.id,
            "credential_id": token_id,
            "revoked": count,
        },
    )
    return count
