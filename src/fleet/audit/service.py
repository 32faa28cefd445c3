"""Writing and querying the audit log (``system_logs``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.models import SystemLog

LEVELS = ("INFO", "WARNING", "ERROR", "HELP")
_SECRET_KEY = re.compile(r"password|token|secret|qr_code|hash", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """Return ``value`` with every secret-looking key's value replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def record(
    session: AsyncSession,
    action: str,
    *,
    user_id: int | None = None,
    ip_address: str | None = None,
    level: str = "INFO",
    details: dict[str, Any] | None = None,
) -> SystemLog:
    """Add an audit row to the caller's transaction; it commits or rolls back with the change."""
    row = SystemLog(
        log_level=level,
        user_id=user_id,
        action=action[:255],
        details=redact(details or {}),
        ip_address=(ip_address or None) and ip_address[:45],
    )
    session.add(row)
    return row


class Actor(Protocol):
    """Who an audit row is written for: a signed-in principal, or a roll-out's cause."""

    @property
    def user_id(self) -> int | None: ...

    @property
    def ip(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Auditor:
    """Writes audit rows in the name of one actor: every row carries its user and address."""

    user_id: int | None = None
    ip_address: str | None = None

    def record(
        self,
        session: AsyncSession,
        action: str,
        *,
        level: str = "INFO",
        details: dict[str, Any] | None = None,
    ) -> SystemLog:
        """Add an audit row for this actor to the caller's transaction (see ``record``)."""
        return record(
            session,
            action,
            user_id=self.user_id,
            ip_address=self.ip_address,
            level=level,
            details=details,
        )


def audit_for(actor: Actor | None) -> Auditor:
    """The auditor bound to ``actor`` (the request's principal: its user and client address);
    for None, the system's own (no user, no address)."""
    if actor is None:
        return Auditor()
    return Auditor(actor.user_id, actor.ip)


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return ``{field: {"old", "new"}}`` for the fields whose value differs."""
    return {k: {"old": before.get(k), "new": v} for k, v in after.items() if before.get(k) != v}


def query_logs(
    *,
    level: str | None = None,
    user_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[SystemLog]:
    """Build the filtered, newest-first audit query."""
    stmt = select(SystemLog)
    if level:
        stmt = stmt.where(SystemLog.log_level == level)
    if user_id is not None:
        stmt = stmt.where(SystemLog.user_id == user_id)
    if action:  # a prefix: "auth." finds every auth event, "auth.login" also "auth.login_failed"
        stmt = stmt.where(SystemLog.action.startswith(action, autoescape=True))
    if since:
        stmt = stmt.where(SystemLog.timestamp >= since)
    if until:
        stmt = stmt.where(SystemLog.timestamp <= until)
    return stmt.order_by(SystemLog.timestamp.desc(), SystemLog.id.desc())
