"""``/api/v1/logs``: the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from fleet.audit import service
from fleet.audit.schemas import LogCreate, LogRead
from fleet.auth.deps import AdminPrincipal, CurrentPrincipal
from fleet.deps import SessionDep
from fleet.models import User
from fleet.pagination import PageDep, paginate

router = APIRouter(prefix="/logs", tags=["audit"])


@router.get("", response_model=list[LogRead])
async def list_logs(
    _: AdminPrincipal,
    session: SessionDep,
    page: PageDep,
    response: Response,
    level: Literal["INFO", "WARNING", "ERROR", "HELP"] | None = None,
    user_id: int | None = None,
    action: Annotated[str | None, Query(max_length=255)] = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
) -> list[LogRead]:
    """List audit rows, newest first, by level, user, action (a prefix) and time range; each
    row names its user."""
    stmt = service.query_logs(level=level, user_id=user_id, action=action, since=from_, until=to)
    rows = [LogRead.model_validate(r) for r in await paginate(session, stmt, page, response)]
    ids = {r.user_id for r in rows if r.user_id is not None}
    if ids:
        names = dict(
            (await session.execute(select(User.id, User.username).where(User.id.in_(ids)))).all()
        )
        for row in rows:
            row.username = names.get(row.user_id) if row.user_id is not None else None
    return rows


@router.post("", response_model=LogRead, status_code=201)
async def create_log(body: LogCreate, principal: CurrentPrincipal, session: SessionDep) -> LogRead:
    """Record an event from a signed-in client (e.g. a HELP call from the bench)."""
    row = service.audit_for(principal).record(
        session,
        body.action,
        level=body.log_level,
        details=body.details,
    )
    await session.flush()
    return LogRead.model_validate(row)
