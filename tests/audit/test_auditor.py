"""``audit_for(actor)`` writes the same row as ``record`` given the actor's user and address."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.audit.service import Auditor, audit_for, record
from fleet.models import SystemLog
from tests.conftest import add_user


@dataclass
class _Actor:
    user_id: int | None
    ip: str | None


def _columns(row: SystemLog) -> tuple[object, ...]:
    return (row.log_level, row.user_id, row.action, row.details, row.ip_address)


async def test_the_bound_auditor_writes_what_record_writes(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    user = await add_user(sessionmaker, "auditor", "admin")
    actor = _Actor(user.id, "198.51.100." + "7" * 50)  # longer than the column: cut the same
    details = {"entity": "x", "id": 1, "password": "hunter2"}
    async with sessionmaker() as session, session.begin():
        by_hand = record(
            session,
            "thing.change",
            user_id=actor.user_id,
            ip_address=actor.ip,
            level="WARNING",
            details=details,
        )
        bound = audit_for(actor).record(session, "thing.change", level="WARNING", details=details)
    async with sessionmaker() as session:
        rows = (await session.scalars(select(SystemLog).order_by(SystemLog.id))).all()
    assert [r.id for r in rows][-2:] == [by_hand.id, bound.id]
    assert _columns(rows[-1]) == _columns(rows[-2])
    assert rows[-1].user_id == user.id
    assert rows[-1].details["password"] == "[redacted]"


def test_no_actor_is_the_system() -> None:
    assert audit_for(None) == Auditor(user_id=None, ip_address=None)
    assert audit_for(_Actor(3, None)) == Auditor(user_id=3, ip_address=None)
