"""The audit trail of what the roll-out engine does on its own: the installations it creates,
its group and roll-out transitions (running to finished included), each in the transaction of
the change and in the name of the user or device that caused it — here through the DDI group
commit, devices reporting concurrently."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import Device, SoftwareInstallation, SystemLog, User
from fleet.settings import Settings
from tests.factories import add_ddi_device, add_device, add_version, ddi, issue_token, target

API = "/api/v1/fleet-software"
SUCCESS = {"status": {"execution": "closed", "result": {"finished": "success"}, "details": []}}


async def _logs(factory: async_sessionmaker[AsyncSession], prefix: str) -> list[SystemLog]:
    async with factory() as session:
        rows = await session.scalars(
            select(SystemLog).where(SystemLog.action.startswith(prefix)).order_by(SystemLog.id)
        )
        return list(rows)


async def test_rollout_engine_changes_are_audited_in_their_causes_name(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    role_headers: dict[str, dict[str, str]],
) -> None:
    maker = role_headers["maker"]
    version = await add_version(sessionmaker, settings)
    tokens = {}
    for n in range(1, 7):
        device_id = await add_device(sessionmaker, f"MT-AU{n}")
        tokens[device_id] = target(await issue_token(client, maker, device_id))
    async with sessionmaker() as session:
        devices = list(await session.scalars(select(Device).order_by(Device.id)))
    r = await client.post(
        f"{API}/rollouts",
        json={
            "version_id": version.id,
            "device_ids": [d.id for d in devices],
            "group_size": 3,
            "success_threshold": 100,
            "error_threshold": 50,
        },
        headers=maker,
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert (await client.post(f"{API}/rollouts/{rid}/start", headers=maker)).status_code == 200
    async with sessionmaker() as session:
        user_id = await session.scalar(select(User.id).where(User.username == "u_maker"))

    async def report(device_id: int) -> int:
        async with sessionmaker() as session:
            action = await session.scalar(
                select(SoftwareInstallation.id).where(
                    SoftwareInstallation.device_id == device_id,
                    SoftwareInstallation.status == "pending",
                )
            )
        number = next(d.device_number for d in devices if d.id == device_id)
        url = ddi(number, f"/deploymentBase/{action}/feedback")
        return (await client.post(url, headers=tokens[device_id], json=SUCCESS)).status_code

    # Group 1 reports together (one group commit), which starts group 2; then group 2.
    assert await asyncio.gather(*(report(d.id) for d in devices[:3])) == [200] * 3
    assert await asyncio.gather(*(report(d.id) for d in devices[3:])) == [200] * 3
    r = await client.get(f"{API}/rollouts/{rid}", headers=maker)
    assert r.json()["status"] == "finished"

    async with sessionmaker() as session:
        installations = {
            i.id: i.device_id for i in await session.scalars(select(SoftwareInstallation))
        }
    created = await _logs(sessionmaker, "software.installation.create")
    assert {row.details["id"]: row.details["device_id"] for row in created} == installations
    by_user = [row for row in created if row.details["group"] == 0]
    by_device = [row for row in created if row.details["group"] == 1]
    assert len(by_user) == len(by_device) == 3
    assert all(row.user_id == user_id and "caused_by_device" not in row.details for row in by_user)
    # group 2 was started by the last report of group 1 that completed it
    group_1 = {d.id for d in devices[:3]}
    assert all(row.user_id is None for row in by_device)
    assert {row.details["caused_by_device"] for row in by_device} <= group_1
    assert len({row.details["caused_by_device"] for row in by_device}) == 1

    groups = [
        (row.details["position"], row.details["changes"]["status"]["new"], row.user_id)
        for row in await _logs(sessionmaker, "software.rollout.group")
    ]
    assert groups == [
        (0, "running", user_id),
        (0, "succeeded", None),
        (1, "running", None),
        (1, "succeeded", None),
    ]
    moves = [
        (row.action, row.details.get("changes"), row.user_id, row.details)
        for row in await _logs(sessionmaker, "software.rollout.")
        if row.action != "software.rollout.group"
    ]
    assert [m[:3] for m in moves] == [
        ("software.rollout.create", None, user_id),
        ("software.rollout.start", {"status": {"old": "draft", "new": "running"}}, user_id),
        ("software.rollout.finish", {"status": {"old": "running", "new": "finished"}}, None),
    ]
    finish = [m for m in moves if m[0] == "software.rollout.finish"]
    assert len(finish) == 1 and finish[0][3]["caused_by_device"] in {d.id for d in devices[3:]}
    statuses = await _logs(sessionmaker, "software.installation.status")
    assert statuses and all(
        row.user_id is None and row.details["caused_by_device"] == installations[row.details["id"]]
        for row in statuses
    )


async def test_a_pause_by_the_engine_is_audited_in_the_devices_name(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    role_headers: dict[str, dict[str, str]],
) -> None:
    maker = role_headers["maker"]
    version = await add_version(sessionmaker, settings)
    device_id, headers = await add_ddi_device(client, sessionmaker, maker, "MT-AP1")
    r = await client.post(
        f"{API}/rollouts",
        json={"version_id": version.id, "device_ids": [device_id], "error_threshold": 0},
        headers=maker,
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert (await client.post(f"{API}/rollouts/{rid}/start", headers=maker)).status_code == 200
    async with sessionmaker() as session:
        action = await session.scalar(select(SoftwareInstallation.id))
    failure = {"status": {"execution": "closed", "result": {"finished": "failure"}}}
    r = await client.post(
        ddi("MT-AP1", f"/deploymentBase/{action}/feedback"), headers=headers, json=failure
    )
    assert r.status_code == 200, r.text
    pauses = await _logs(sessionmaker, "software.rollout.pause")
    assert len(pauses) == 1
    (pause,) = pauses
    assert pause.user_id is None and pause.log_level == "WARNING"
    assert pause.details["caused_by_device"] == device_id
    assert pause.details["changes"] == {"status": {"old": "running", "new": "paused"}}
    assert "error threshold" in pause.details["reason"]
