"""Action feedback of many devices in one transaction: one token query, one commit, and every
request still gets the answer its own report earned."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from fastapi.exceptions import RequestValidationError
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.devices_api import actions as actions_module
from fleet.devices_api import feedback as feedback_module
from fleet.devices_api.actions import Gone
from fleet.devices_api.credentials import DeviceUnauthorized
from fleet.devices_api.feedback import Report
from fleet.devices_api.schemas import DdiActionFeedback
from fleet.errors import Forbidden, NotFound
from fleet.models import Device, DeviceSoftware, SoftwareInstallation, SystemLog
from fleet.settings import Settings
from tests.factories import add_device, add_version, ddi, issue_token, target

API = "/api/v1/fleet-software"


def _body(execution: str, finished: str = "none", *details: str) -> dict[str, Any]:
    return {
        "status": {"execution": execution, "result": {"finished": finished}, "details": details}
    }


async def _fleet(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    maker: dict[str, str],
    count: int,
    *,
    group_size: int,
) -> dict[str, Any]:
    """``count`` devices with tokens and a started roll-out to them in groups."""
    version = await add_version(sessionmaker, settings)
    tokens = {}
    for n in range(1, count + 1):
        device_id = await add_device(sessionmaker, f"MT-B{n}")
        tokens[f"MT-B{n}"] = await issue_token(client, maker, device_id)
    async with sessionmaker() as session:
        devices = list(await session.scalars(select(Device).order_by(Device.id)))
    r = await client.post(
        f"{API}/rollouts",
        json={
            "version_id": version.id,
            "device_ids": [d.id for d in devices],
            "group_size": group_size,
            "success_threshold": 60,
            "error_threshold": 50,
        },
        headers=maker,
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert (await client.post(f"{API}/rollouts/{rid}/start", headers=maker)).status_code == 200
    return {"rollout": rid, "devices": devices, "tokens": tokens}


async def _actions(
    factory: async_sessionmaker[AsyncSession], device_ids: list[int]
) -> dict[int, SoftwareInstallation]:
    async with factory() as session:
        rows = await session.scalars(
            select(SoftwareInstallation).where(SoftwareInstallation.device_id.in_(device_ids))
        )
        return {row.device_id: row for row in rows if row.device_id is not None}


def _report(
    token: str | None, number: str, action: int | str, body: dict[str, Any] | None
) -> Report:
    report = Report(
        authorization=None if token is None else f"TargetToken {token}",
        tenant="DEFAULT",
        controller_id=number,
        action_id=str(action),
        ip="10.9.8.7",
    )
    if body is None:
        report.refusal = RequestValidationError([{"loc": ("body",), "msg": "bad", "type": "x"}])
    else:
        report.feedback = DdiActionFeedback.model_validate(body)
    return report


async def test_one_batch_one_transaction_each_report_its_own_answer(
    app: Any,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    role_headers: dict[str, dict[str, str]],
) -> None:
    fleet = await _fleet(client, sessionmaker, settings, role_headers["maker"], 6, group_size=3)
    d1, d2, d3, d4 = fleet["devices"][:4]
    tok = fleet["tokens"]
    first = await _actions(sessionmaker, [d.id for d in fleet["devices"]])
    assert sorted(first) == [d1.id, d2.id, d3.id]  # group 1 only

    statements: list[str] = []
    commits: list[int] = []

    def on_statement(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        statements.append(statement)

    def on_commit(_c: Any) -> None:
        commits.append(1)

    sync_engine = app.state.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", on_statement)
    event.listen(sync_engine, "commit", on_commit)
    reports = [
        _report(tok["MT-B1"], "MT-B1", first[d1.id].id, _body("closed", "success", "ok")),
        _report(tok["MT-B2"], "MT-B2", first[d2.id].id, _body("closed", "failure", "flash")),
        _report(tok["MT-B3"], "MT-B3", first[d3.id].id, _body("closed", "success")),
        _report(tok["MT-B1"], "MT-B1", first[d1.id].id, _body("closed", "success")),  # again
        _report("fdt_not-a-token", "MT-B1", first[d1.id].id, _body("closed", "success")),
        _report(None, "MT-B1", first[d1.id].id, _body("closed", "success")),
        _report(tok["MT-B4"], "MT-B5", 1, _body("proceeding")),  # another device's path
        _report(tok["MT-B4"], "MT-B4", 999999, _body("proceeding")),
        _report(tok["MT-B4"], "MT-B4", 1, None),  # its body was refused
    ]
    try:
        batcher = app.state.feedback
        answers = await asyncio.gather(
            *(batcher.submit(r) for r in reports), return_exceptions=True
        )
    finally:
        event.remove(sync_engine, "before_cursor_execute", on_statement)
        event.remove(sync_engine, "commit", on_commit)

    assert answers[:3] == [None, None, None]
    assert isinstance(answers[3], Gone)
    assert isinstance(answers[4], DeviceUnauthorized) and isinstance(answers[5], DeviceUnauthorized)
    assert answers[5].detail == "Device token required"
    assert isinstance(answers[6], Forbidden)
    assert isinstance(answers[7], NotFound)
    assert isinstance(answers[8], RequestValidationError)
    # all nine in one transaction: one token query, one commit
    assert len(commits) == 1
    assert sum("device_tokens" in s for s in statements) == 1
    # device_software: one upsert per shape of change (installed, failed), not one per device
    upserts = [s for s in statements if "INTO device_software" in s and "ON CONFLICT" in s]
    assert len(upserts) == 2

    after = await _actions(sessionmaker, [d.id for d in fleet["devices"]])
    assert after[d1.id].status == "completed" and after[d3.id].status == "completed"
    assert after[d2.id].status == "failed" and after[d2.id].error_message == "flash"
    # 2 of 3 completed is above the 60 % threshold: group 2 started in the same transaction
    assert after[d4.id].status == "pending" and len(after) == 6
    r = await client.get(f"{API}/rollouts/{fleet['rollout']}", headers=role_headers["maker"])
    groups = r.json()["groups"]
    assert [g["status"] for g in groups] == ["succeeded", "running"]
    async with sessionmaker() as session:
        installed = await session.scalars(
            select(DeviceSoftware.installation_status).where(
                DeviceSoftware.device_id.in_([d1.id, d2.id, d3.id])
            )
        )
        assert sorted(installed) == ["failed", "installed", "installed"]
        versions = await session.scalars(
            select(DeviceSoftware.installed_version).where(
                DeviceSoftware.device_id.in_([d1.id, d3.id])
            )
        )
        assert list(versions) == ["1.0.0", "1.0.0"]
        moves = await session.scalar(
            select(SystemLog.id).where(SystemLog.action == "software.installation.status").limit(1)
        )
        assert moves is not None


async def test_a_failing_batch_is_applied_report_by_report(
    app: Any,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    role_headers: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fleet = await _fleet(client, sessionmaker, settings, role_headers["maker"], 3, group_size=3)
    actions = await _actions(sessionmaker, [d.id for d in fleet["devices"]])
    real_apply = feedback_module._apply

    async def fail_together(
        session: AsyncSession, cfg: Settings, reports: list[Report], **kwargs: Any
    ) -> Any:
        outcomes = await real_apply(session, cfg, reports, **kwargs)
        if len(reports) > 1:
            raise RuntimeError("the batch's transaction broke after its writes")
        return outcomes

    monkeypatch.setattr(feedback_module, "_apply", fail_together)
    reports = [
        _report(fleet["tokens"][d.device_number], d.device_number, action, body)
        for d, action, body in zip(
            fleet["devices"],
            [actions[d.id].id for d in fleet["devices"][:2]] + ["999999"],
            [_body("closed", "success"), _body("proceeding"), _body("closed", "success")],
            strict=True,
        )
    ]
    with caplog.at_level(logging.WARNING, logger="fleet.devices_api.feedback"):
        answers = await asyncio.gather(
            *(app.state.feedback.submit(r) for r in reports), return_exceptions=True
        )
    assert "applying each alone" in caplog.text
    assert answers[0] is None and answers[1] is None
    assert getattr(answers[2], "status_code", None) == 404  # not an action of the device
    after = await _actions(sessionmaker, [d.id for d in fleet["devices"]])
    statuses = [after[d.id].status for d in fleet["devices"]]
    assert statuses == ["completed", "in_progress", "pending"]  # each written once, alone

    # a lone report whose transaction fails gets the error; the next report is served
    async def always_fail(
        session: AsyncSession, cfg: Settings, reports: list[Report], **kwargs: Any
    ) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(feedback_module, "_apply", always_fail)
    with pytest.raises(RuntimeError, match="went away"):
        await app.state.feedback.submit(reports[2])
    monkeypatch.setattr(feedback_module, "_apply", real_apply)
    third = fleet["devices"][2]
    closed = _body("closed", "success")
    await app.state.feedback.submit(
        _report(
            fleet["tokens"][third.device_number], third.device_number, actions[third.id].id, closed
        )
    )
    assert (await _actions(sessionmaker, [third.id]))[third.id].status == "completed"


async def test_concurrent_requests_end_to_end(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    role_headers: dict[str, dict[str, str]],
) -> None:
    fleet = await _fleet(client, sessionmaker, settings, role_headers["maker"], 5, group_size=5)
    actions = await _actions(sessionmaker, [d.id for d in fleet["devices"]])

    async def report(number: str, device_id: int) -> int:
        url = ddi(number, f"/deploymentBase/{actions[device_id].id}/feedback")
        headers = target(fleet["tokens"][number])
        r = await client.post(url, headers=headers, json=_body("closed", "success"))
        return r.status_code

    codes = await asyncio.gather(*(report(d.device_number, d.id) for d in fleet["devices"]))
    assert codes == [200] * 5
    r = await client.get(f"{API}/rollouts/{fleet['rollout']}", headers=role_headers["maker"])
    assert r.json()["status"] == "finished" and r.json()["completed"] == 5
    # the token is checked before the body, as for any request
    url = ddi("MT-B1", f"/deploymentBase/{actions[fleet['devices'][0].id].id}/feedback")
    bad = {"status": {"execution": "exploded"}}
    assert (await client.post(url, json=bad)).status_code == 401
    token = target(fleet["tokens"]["MT-B1"])
    assert (await client.post(url, json=bad, headers=token)).status_code == 400
    r = await client.post(url, json=_body("closed", "success"), headers=token)
    assert r.status_code == 410


async def test_a_report_refused_after_writing_spoils_nothing(
    app: Any,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    role_headers: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet = await _fleet(client, sessionmaker, settings, role_headers["maker"], 3, group_size=3)
    devices = fleet["devices"]
    actions = await _actions(sessionmaker, [d.id for d in devices])
    real = actions_module.apply_feedback
    late = actions[devices[1].id].id

    async def refuse_late(
        session: AsyncSession, installation: Any, *args: Any, **kwargs: Any
    ) -> None:
        await real(session, installation, *args, **kwargs)
        if installation.id == late:  # a refusal after the writes, which must not be kept
            raise NotFound("refused after writing")

    monkeypatch.setattr(actions_module, "apply_feedback", refuse_late)
    closed = _body("closed", "success")
    reports = [
        _report(fleet["tokens"][d.device_number], d.device_number, actions[d.id].id, closed)
        for d in devices
    ]
    answers = await asyncio.gather(
        *(app.state.feedback.submit(r) for r in reports), return_exceptions=True
    )
    assert answers[0] is None and answers[2] is None
    assert isinstance(answers[1], NotFound)
    after = await _actions(sessionmaker, [d.id for d in devices])
    assert [after[d.id].status for d in devices] == ["completed", "pending", "completed"]
