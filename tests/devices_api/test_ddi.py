"""The DDI resources: polling, deploymentBase, downloads, feedback mapping, cancel, configData."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.errors import Conflict
from fleet.models import DeviceSoftware, SoftwareInstallation, SystemLog
from fleet.settings import Settings
from fleet.software.installations import transition
from fleet.software.policy import INSTALLATION_POLICY
from tests.factories import (
    add_ddi_device,
    add_installation,
    add_version,
    artifact_path,
    ddi,
)


async def _installation(
    factory: async_sessionmaker[AsyncSession], installation_id: int
) -> SoftwareInstallation:
    async with factory() as session:
        row = await session.get(SoftwareInstallation, installation_id)
        assert row is not None
        return row


def _feedback(execution: str, finished: str = "none", **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"finished": finished}
    if "progress" in extra:
        result["progress"] = extra.pop("progress")
    status: dict[str, Any] = {"execution": execution, "result": result, **extra}
    return {"id": None, "time": "20261127T120000", "status": status}


async def test_poll_without_action_and_config_data(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-D")
    r = await client.get(ddi("MT-D"), headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["config"]["polling"]["sleep"] == "00:01:00"
    assert set(body["_links"]) == {"configData"}
    assert body["_links"]["configData"]["href"].endswith("/DEFAULT/controller/v1/MT-D/configData")

    url = ddi("MT-D", "/configData")
    r = await client.put(url, headers=headers, json={"data": {"hwRevision": "2", "serial": "S1"}})
    assert r.status_code == 200
    r = await client.put(
        url, headers=headers, json={"mode": "merge", "data": {"firmware": "1.0.0"}}
    )
    assert r.status_code == 200
    attrs_url = f"/api/v1/fleet-data/devices/{device_id}/attributes"
    r = await client.get(attrs_url, headers=role_headers["operator"])
    assert r.json()["attributes"] == {"hwRevision": "2", "serial": "S1", "firmware": "1.0.0"}
    await client.put(url, headers=headers, json={"mode": "remove", "data": {"serial": ""}})
    r = await client.get(attrs_url, headers=role_headers["manager"])
    assert r.json()["attributes"] == {"hwRevision": "2", "firmware": "1.0.0"}
    await client.put(url, headers=headers, json={"mode": "replace", "data": {"hw": "3"}})
    r = await client.get(attrs_url, headers=role_headers["manager"])
    assert r.json()["attributes"] == {"hw": "3"}
    # configData link gone once attributes are known
    assert "_links" not in (await client.get(ddi("MT-D"), headers=headers)).json()
    # bad input changes nothing
    for bad in (
        {"data": {"x": "y" * 600}},
        {"mode": "wipe", "data": {"a": "b"}},
        {"data": {"": "b"}},
        {"data": {"nested": {"a": 1}}},
        {"nodata": True},
    ):
        assert (await client.put(url, headers=headers, json=bad)).status_code == 400, bad
    raw = '{"data": {"x": NaN}}'
    nan_headers = {**headers, "content-type": "application/json"}
    assert (await client.put(url, headers=nan_headers, content=raw)).status_code == 400
    r = await client.get(attrs_url, headers=role_headers["manager"])
    assert r.json()["attributes"] == {"hw": "3"}
    assert (await client.put(url, json={"data": {"a": "b"}})).status_code == 401
    assert (await client.get(attrs_url)).status_code == 401


async def test_install_success_flow(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-D")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    body = (await client.get(ddi("MT-D"), headers=headers)).json()
    href = body["_links"]["deploymentBase"]["href"]
    assert f"/DEFAULT/controller/v1/MT-D/deploymentBase/{inst.id}?c=" in href
    path = href.split("http://testserver", 1)[1]
    r = await client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    dep = r.json()
    assert dep["id"] == str(inst.id)
    assert dep["deployment"]["download"] == "forced"
    chunk = dep["deployment"]["chunks"][0]
    assert chunk["version"] == "1.0.0" and chunk["name"] == "tester-firmware"
    art = chunk["artifacts"][0]
    content = artifact_path(version).read_bytes()
    assert art["size"] == len(content)
    assert art["hashes"] == {
        "sha1": hashlib.sha1(content).hexdigest(),  # noqa: S324 - DDI names these hashes
        "md5": hashlib.md5(content).hexdigest(),  # noqa: S324
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    dl = art["_links"]["download-http"]["href"].split("http://testserver", 1)[1]
    assert dl == ddi("MT-D", f"/softwaremodules/{version.id}/artifacts/{art['filename']}")
    r = await client.get(dl, headers=headers)
    assert r.status_code == 200 and r.content == content
    assert r.headers["x-checksum-sha256"] == art["hashes"]["sha256"]
    r = await client.get(dl, headers={**headers, "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == content[10:20]
    r = await client.get(dl + ".MD5SUM", headers=headers)
    assert r.text.split()[0] == art["hashes"]["md5"]
    r = await client.get(ddi("MT-D", f"/softwaremodules/{version.id}/artifacts"), headers=headers)
    assert r.json()[0]["filename"] == art["filename"]
    assert (await client.get(dl)).status_code == 401
    r = await client.get(
        ddi("MT-D", f"/softwaremodules/{version.id}/artifacts/x.bin"), headers=headers
    )
    assert r.status_code == 404

    fb = ddi("MT-D", f"/deploymentBase/{inst.id}/feedback")
    r = await client.post(
        fb,
        headers=headers,
        json=_feedback("proceeding", progress={"cnt": 1, "of": 4}, details=["downloading"]),
    )
    assert r.status_code == 200, r.text
    row = await _installation(sessionmaker, inst.id)
    assert row.status == "in_progress" and "25% downloading" in (row.installation_log or "")
    r = await client.post(fb, headers=headers, json=_feedback("proceeding", details=["installing"]))
    assert r.status_code == 200
    r = await client.post(fb, headers=headers, json=_feedback("closed", "success", details=["ok"]))
    assert r.status_code == 200
    row = await _installation(sessionmaker, inst.id)
    assert row.status == "completed"
    assert "installing" in (row.installation_log or "")
    async with sessionmaker() as session:
        ds = await session.scalar(
            select(DeviceSoftware).where(DeviceSoftware.device_id == device_id)
        )
    assert ds is not None and ds.installation_status == "installed"
    assert ds.installed_version == "1.0.0"
    # finished: no more feedback, no link; the installed module stays downloadable (hawkBit)
    r = await client.post(fb, headers=headers, json=_feedback("closed", "failure"))
    assert r.status_code == 410
    assert (await client.get(dl, headers=headers)).status_code == 200
    links = (await client.get(ddi("MT-D"), headers=headers)).json()["_links"]
    assert "deploymentBase" not in links
    assert links["installedBase"]["href"].endswith(f"/installedBase/{inst.id}")


async def test_failure_bad_feedback_and_ordering(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-D")
    other_id, other_headers = await add_ddi_device(
        client, sessionmaker, role_headers["maker"], "MT-O"
    )
    v1 = await add_version(sessionmaker, settings)
    v2 = await add_version(sessionmaker, settings, name="tester-app", version="2.0.0")
    first = await add_installation(sessionmaker, device_id, v1.id)
    second = await add_installation(sessionmaker, device_id, v2.id)
    links = (await client.get(ddi("MT-D"), headers=headers)).json()["_links"]
    assert f"/deploymentBase/{first.id}?" in links["deploymentBase"]["href"]
    # one at a time: the second is not active yet
    r = await client.get(ddi("MT-D", f"/deploymentBase/{second.id}"), headers=headers)
    assert r.status_code == 404
    # other device's action, unknown or malformed ids
    for bad in (str(first.id), "999999", "abc"):
        r = await client.get(ddi("MT-O", f"/deploymentBase/{bad}"), headers=other_headers)
        assert r.status_code == 404, bad
    fb = ddi("MT-D", f"/deploymentBase/{first.id}/feedback")
    malformed: list[Any] = [
        {"status": {"execution": "exploded"}},
        {"status": {}},
        {},
        [],
        {"status": {"execution": "closed", "result": {"finished": "maybe"}}},
    ]
    for body in malformed:
        assert (await client.post(fb, headers=headers, json=body)).status_code == 400, body
    r = await client.post(fb, headers=other_headers, json=_feedback("proceeding"))
    assert r.status_code == 403
    assert (await _installation(sessionmaker, first.id)).status == "pending"

    r = await client.post(
        fb, headers=headers, json=_feedback("closed", "failure", details=["checksum mismatch"])
    )
    assert r.status_code == 200
    row = await _installation(sessionmaker, first.id)
    assert row.status == "failed" and row.error_message == "checksum mismatch"
    links = (await client.get(ddi("MT-D"), headers=headers)).json()["_links"]
    assert f"/deploymentBase/{second.id}?" in links["deploymentBase"]["href"]
    assert other_id != device_id


async def test_closed_without_a_start_passes_through_in_progress(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-D")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    fb = ddi("MT-D", f"/deploymentBase/{inst.id}/feedback")
    r = await client.post(fb, headers=headers, json=_feedback("closed", "success", details=["ok"]))
    assert r.status_code == 200, r.text
    row = await _installation(sessionmaker, inst.id)
    assert row.status == "completed" and row.completed_at is not None
    lines = (row.installation_log or "").splitlines()
    assert "[in_progress] started" in lines[-2] and "[completed] 100% ok" in lines[-1]
    async with sessionmaker() as session:
        moves = [
            log.details["changes"]["status"]
            for log in await session.scalars(
                select(SystemLog)
                .where(SystemLog.action == "software.installation.status")
                .order_by(SystemLog.id)
            )
            if log.details["id"] == inst.id
        ]
        ds = await session.scalar(
            select(DeviceSoftware).where(DeviceSoftware.device_id == device_id)
        )
    assert moves == [
        {"old": "pending", "new": "in_progress"},
        {"old": "in_progress", "new": "completed"},
    ]
    assert ds is not None and ds.installation_status == "installed"
    # the same report again is too late, and a chain through an illegal step writes nothing
    again = await client.post(fb, headers=headers, json=_feedback("closed", "success"))
    assert again.status_code == 410
    other = await add_version(sessionmaker, settings, name="tester-app", version="2.0.0")
    second = await add_installation(sessionmaker, device_id, other.id)
    async with sessionmaker() as session:
        loaded = await session.get(SoftwareInstallation, second.id)
        assert loaded is not None
        await transition(session, loaded, "in_progress", policy=INSTALLATION_POLICY)
        with pytest.raises(Conflict):
            await transition(
                session, loaded, "completed", policy=INSTALLATION_POLICY, through="in_progress"
            )
        await session.rollback()
    assert (await _installation(sessionmaker, second.id)).status == "pending"


async def test_cancel_action(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-D")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    # not delivered yet, nothing to cancel
    assert (
        await client.get(ddi("MT-D", f"/cancelAction/{inst.id}"), headers=headers)
    ).status_code == 404
    await client.get(ddi("MT-D", f"/deploymentBase/{inst.id}"), headers=headers)
    async with sessionmaker() as session, session.begin():
        row = await session.get(SoftwareInstallation, inst.id)
        assert row is not None
        await transition(
            session, row, "canceled", policy=INSTALLATION_POLICY, log_line="canceled by user"
        )
    links = (await client.get(ddi("MT-D"), headers=headers)).json()["_links"]
    assert links["cancelAction"]["href"].endswith(f"/cancelAction/{inst.id}")
    assert "deploymentBase" not in links
    r = await client.get(ddi("MT-D", f"/cancelAction/{inst.id}"), headers=headers)
    assert r.json() == {"id": str(inst.id), "cancelAction": {"stopId": str(inst.id)}}
    # deployment feedback for the canceled action is refused
    r = await client.post(
        ddi("MT-D", f"/deploymentBase/{inst.id}/feedback"),
        headers=headers,
        json=_feedback("closed", "success"),
    )
    assert r.status_code == 410
    cfb = ddi("MT-D", f"/cancelAction/{inst.id}/feedback")
    assert (await client.post(cfb, headers=headers, json={"status": {}})).status_code == 400
    r = await client.post(cfb, headers=headers, json=_feedback("proceeding"))
    assert r.status_code == 200
    assert "cancelAction" in (await client.get(ddi("MT-D"), headers=headers)).json()["_links"]
    r = await client.post(cfb, headers=headers, json=_feedback("closed", "success"))
    assert r.status_code == 200
    assert "_links" not in (await client.get(ddi("MT-D"), headers=headers)).json() or (
        "cancelAction" not in (await client.get(ddi("MT-D"), headers=headers)).json()["_links"]
    )
    assert (
        await client.post(cfb, headers=headers, json=_feedback("closed", "success"))
    ).status_code == 410
    async with sessionmaker() as session:
        logs = list(
            await session.scalars(
                select(SystemLog).where(SystemLog.action == "ddi.cancel_feedback")
            )
        )
    assert [log.details["outcome"] for log in logs] == ["proceeding", "confirmed"]


async def test_tampered_artifact_is_not_offered(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-D")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    artifact_path(version).write_bytes(b"evil")
    r = await client.get(ddi("MT-D", f"/deploymentBase/{inst.id}"), headers=headers)
    assert r.json()["deployment"]["chunks"][0]["artifacts"] == []
    dl = ddi("MT-D", f"/softwaremodules/{version.id}/artifacts/{artifact_path(version).name}")
    assert (await client.get(dl, headers=headers)).status_code == 404
