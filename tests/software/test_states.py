"""The installation state machine as data: the legal moves, the policy's ordered rules and the
explicit batch of a group commit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.errors import Conflict, ValidationFailed
from fleet.models import DeviceSoftware, SoftwareInstallation
from fleet.software import installations
from fleet.software.batch import SoftwareChangeBatch
from fleet.software.policy import INSTALLATION_POLICY
from fleet.software.states import FINISHED, MOVES, STATUSES, Move, Policy, Rule, check_moves
from tests.factories import add_devices, create_software, create_version, install


def test_check_moves_follows_the_table() -> None:
    for old in STATUSES:
        for new in STATUSES:
            if new in MOVES.get(old, frozenset()):
                check_moves(1, old, [new])
            else:
                with pytest.raises(Conflict):
                    check_moves(1, old, [new])
    check_moves(1, "pending", ["in_progress", "completed"])
    with pytest.raises(Conflict):
        check_moves(1, "pending", ["completed", "in_progress"])
    with pytest.raises(ValidationFailed):
        check_moves(1, "pending", ["done"])


class Recorder(Rule):
    """Notes each step it takes, to see the order the policy runs its rules in."""

    from_states = frozenset({"pending", "in_progress"})
    to_states = FINISHED

    def __init__(self, name: str, seen: list[tuple[str, str, str, str]]) -> None:
        self.name = name
        self.seen = seen

    async def before(self, session: AsyncSession, move: Move) -> Any:
        self.seen.append(("before", self.name, move.old, move.new))
        return f"found by {self.name}"

    async def after(self, session: AsyncSession, move: Move, found: Any) -> None:
        assert found == f"found by {self.name}"
        assert move.installation.status == move.new  # written before the rules' after step
        self.seen.append(("after", self.name, move.old, move.new))


def test_policy_keeps_its_rules_in_order_and_by_distinct_names() -> None:
    seen: list[tuple[str, str, str, str]] = []
    first, second = Recorder("first", seen), Recorder("second", seen)
    policy = Policy().register(first).register(second)
    assert policy.rules == (first, second)
    assert policy.rules_for("in_progress", "completed") == (first, second)
    assert policy.rules_for("pending", "in_progress") == ()
    with pytest.raises(ValueError, match="distinct names"):
        policy.register(Recorder("first", seen))
    # The roll-out engine's rules are what the application's policy holds.
    assert [r.name for r in INSTALLATION_POLICY.rules] == [
        "rollouts.count_finished",
        "rollouts.uncount_reopened",
    ]
    assert [r.name for r in INSTALLATION_POLICY.rules_for("canceled", "in_progress")] == [
        "rollouts.uncount_reopened"
    ]


async def _pending(
    client: httpx.AsyncClient, maker: dict[str, str], sessionmaker: Any
) -> tuple[int, int]:
    (device,) = await add_devices(sessionmaker)
    software = await create_software(client, maker)
    version = await create_version(client, maker, software["id"], "1.0.0")
    r = await install(client, maker, device, version["id"])
    assert r.status_code == 201, r.text
    return r.json()["id"], device


async def test_transition_runs_the_rules_of_the_move_in_policy_order(
    client: httpx.AsyncClient,
    maker: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    iid, _device = await _pending(client, maker, sessionmaker)
    seen: list[tuple[str, str, str, str]] = []
    policy = Policy().register(Recorder("first", seen), Recorder("second", seen))
    async with sessionmaker() as session, session.begin():
        row = await session.get(SoftwareInstallation, iid)
        assert row is not None
        await installations.transition(session, row, "in_progress", policy=policy)
        assert seen == []  # no rule takes part in starting
        await installations.transition(session, row, "completed", policy=policy)
    assert seen == [
        ("before", "first", "in_progress", "completed"),
        ("before", "second", "in_progress", "completed"),
        ("after", "first", "in_progress", "completed"),
        ("after", "second", "in_progress", "completed"),
    ]


async def test_a_batch_holds_the_device_software_change_until_its_owner_flushes_it(
    client: httpx.AsyncClient,
    maker: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    iid, device = await _pending(client, maker, sessionmaker)
    status_now = select(DeviceSoftware.installation_status).where(
        DeviceSoftware.device_id == device
    )
    async with sessionmaker() as session, session.begin():
        row = await session.get(SoftwareInstallation, iid)
        assert row is not None
        batch = SoftwareChangeBatch()
        await installations.transition(
            session,
            row,
            "completed",
            policy=INSTALLATION_POLICY,
            batch=batch,
            through="in_progress",
        )
        assert list(batch.held) == [(device, row.rollback_point["software_id"])]
        assert await session.scalar(status_now) == "installing"
        await batch.flush(session)
        assert batch.held == {}
        assert await session.scalar(status_now) == "installed"
    async with sessionmaker() as session:
        assert await session.scalar(status_now) == "installed"
