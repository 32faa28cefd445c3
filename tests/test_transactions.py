"""One request, one transaction: every earlier commit is a listed exception, and a constraint
refused at the flush is a 409 (``fleet.db``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.db import EARLY_COMMITS, commit_early, flush_or_conflict
from fleet.errors import Conflict
from fleet.models import Device

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "fleet"
_COMMIT = re.compile(r"\bsession\.commit\(\)")
_EARLY = re.compile(r"commit_early\(\s*\w+,\s*\"([a-z-]+)\"\s*\)")


def _sources() -> list[Path]:
    return [
        p
        for p in sorted(SRC.rglob("*.py"))
        if "migrations" not in p.parts and p.name != "db.py"
    ]


def test_no_session_commits_outside_the_session_dependency_and_the_listed_helper() -> None:
    offenders = [
        f"{p.relative_to(SRC)}:{n}"
        for p in _sources()
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if _COMMIT.search(line)
    ]
    assert offenders == [], "commit through fleet.db.commit_early with a listed reason"


def test_every_listed_early_commit_is_used_and_documented() -> None:
    used: set[str] = set()
    for p in _sources():
        used.update(_EARLY.findall(p.read_text()))
    assert used == set(EARLY_COMMITS)
    readme = (ROOT / "README.md").read_text()
    architecture = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for reason in EARLY_COMMITS:
        assert f"`{reason}`" in readme, reason
        assert f"`{reason}`" in architecture, reason


async def test_an_unlisted_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="not a listed early commit"):
        await commit_early(object(), "because")  # type: ignore[arg-type]


async def test_a_refused_flush_is_a_conflict_with_the_callers_message(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        session.add(Device(device_number="TWIN-1", device_type="mask"))
        await flush_or_conflict(session, "unused")
        session.add(Device(device_number="TWIN-1", device_type="mask"))
        with pytest.raises(Conflict) as caught:
            await flush_or_conflict(session, "Device number already exists")
        assert caught.value.status_code == 409
        assert caught.value.detail == "Device number already exists"
        await session.rollback()
