"""hawkBit DDI conformance, resource by resource, with the status codes hawkBit answers.

Each test names the resource and the hawkBit behaviour it checks (learned from hawkBit's DDI
documentation and resource tests): what a stock client (SWUpdate, rauc-hawkbit) sends is taken,
and what it reads is there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.devices_api.ddi_format import module_type
from fleet.devices_api.options import Options, window_available
from fleet.models import (
    DdiActionStatus,
    Device,
    DeviceSoftware,
    SoftwareInstallation,
    SystemLog,
)
from fleet.settings import Settings
from fleet.software.installations import transition
from fleet.software.policy import INSTALLATION_POLICY
from tests.factories import add_ddi_device, add_installation, add_version, ddi

API = "/api/v1/fleet-software"



async def _status(factory: async_sessionmaker[AsyncSession], installation_id: int) -> str | None:
    async with factory() as session:
        row = await session.get(SoftwareInstallation, installation_id)
        assert row is not None
        return row.status


def _path(href: str) -> str:
    return href.split("http://testserver", 1)[1]


# -- deploymentBase/{actionId}/feedback ------------------------------------------------------
async def test_feedback_as_swupdate_sends_it(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    """A numeric ``id`` and unknown fields are ignored, progress ``{cnt: 0, of: 0}`` is not
    checked, ``closed`` + ``finished: none`` is a success; code and details are kept."""
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    fb = ddi("MT-C", f"/deploymentBase/{inst.id}/feedback")
    body: dict[str, Any] = {
        "id": 15,
        "time": "20261130T120000",
        "unknown": {"nested": True},
        "status": {
            "execution": "proceeding",
            "result": {"finished": "none", "progress": {"cnt": 0, "of": 0}},
            "code": 12,
            "details": ["Installing Update Chunk Artifacts."],
        },
    }
    r = await client.post(fb, headers=headers, json=body)
    assert r.status_code == 200, r.text
    assert await _status(sessionmaker, inst.id) == "in_progress"
    body["status"] = {
        "execution": "closed",
        "result": {"finished": "none", "progress": {"cnt": 0, "of": 0}},
        "code": 0,
        "details": ["Update applied"],
    }
    r = await client.post(fb, headers=headers, json=body)
    assert r.status_code == 200, r.text
    assert await _status(sessionmaker, inst.id) == "completed"
    async with sessionmaker() as session:
        ds = await session.scalar(
            select(DeviceSoftware).where(DeviceSoftware.device_id == device_id)
        )
        assert ds is not None and ds.installed_version == "1.0.0"
        rows = list(
            await session.scalars(
                select(DdiActionStatus)
                .where(DdiActionStatus.installation_id == inst.id)
                .order_by(DdiActionStatus.id)
            )
        )
    assert [(r.execution, r.finished, r.code) for r in rows] == [
        ("proceeding", "none", 12),
        ("closed", "none", 0),
    ]
    assert rows[0].details == ["Installing Update Chunk Artifacts."]
    # the history is shown with the installation (the Fleet Software Manager page reads it)
    r = await client.get(f"{API}/installations/{inst.id}", headers=role_headers["maker"])
    reports = r.json()["device_reports"]
    assert [(x["execution"], x["code"], x["details"]) for x in reports] == [
        ("proceeding", 12, ["Installing Update Chunk Artifacts."]),
        ("closed", 0, ["Update applied"]),
    ]
    assert r.json()["delivery"]["update_type"] == "forced"
    assert "Update applied (code 0)" in r.json()["installation_log"]


async def test_feedback_bad_body_is_400_and_failure_keeps_details(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    fb = ddi("MT-C", f"/deploymentBase/{inst.id}/feedback")
    for bad in (
        {},
        {"status": {"execution": "exploded"}},
        {"status": {"execution": "closed", "result": {"finished": "maybe"}}},
        {"status": {"execution": "closed", "details": "not a list"}},
        {"status": {"execution": "proceeding", "result": {"progress": {"cnt": "x"}}}},
    ):
        r = await client.post(fb, headers=headers, json=bad)
        assert r.status_code == 400, (bad, r.text)
    r = await client.post(
        fb,
        headers=headers,
        content=b"{not json",
    )
    assert r.status_code == 400
    assert await _status(sessionmaker, inst.id) == "pending"
    r = await client.post(
        fb,
        headers=headers,
        json={
            "status": {
                "execution": "closed",
                "result": {"finished": "failure"},
                "code": 3,
                "details": ["ERROR: script failed", "exit 1"],
            }
        },
    )
    assert r.status_code == 200
    r = await client.get(f"{API}/installations/{inst.id}", headers=role_headers["maker"])
    detail = r.json()
    assert detail["status"] == "failed"
    assert detail["error_message"] == "ERROR: script failed; exit 1 (code 3)"
    assert detail["device_reports"][-1]["details"] == ["ERROR: script failed", "exit 1"]
    # finished: a late report is 410 Gone, as in hawkBit
    r = await client.post(fb, headers=headers, json={"status": {"execution": "proceeding"}})
    assert r.status_code == 410


# -- cancelAction/{actionId}/feedback --------------------------------------------------------
async def _deliver_and_cancel(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    headers: dict[str, str],
    number: str,
    installation_id: int,
) -> None:
    r = await client.get(ddi(number, f"/deploymentBase/{installation_id}"), headers=headers)
    assert r.status_code == 200
    r = await client.post(
        ddi(number, f"/deploymentBase/{installation_id}/feedback"),
        headers=headers,
        json={"status": {"execution": "proceeding", "details": ["downloading"]}},
    )
    assert r.status_code == 200
    async with sessionmaker() as session, session.begin():
        row = await session.get(SoftwareInstallation, installation_id)
        assert row is not None
        await transition(
            session, row, "canceled", policy=INSTALLATION_POLICY, log_line="canceled by maker"
        )


async def test_cancel_rejected_puts_the_action_back_and_its_success_counts(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    await _deliver_and_cancel(client, sessionmaker, headers, "MT-C", inst.id)
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    assert links["cancelAction"]["href"].endswith(f"/cancelAction/{inst.id}")
    cfb = ddi("MT-C", f"/cancelAction/{inst.id}/feedback")
    # closed + failure is a rejection too (hawkBit); a bad body is 400 and changes nothing
    assert (await client.post(cfb, headers=headers, json={"status": 1})).status_code == 400
    r = await client.post(
        cfb,
        headers=headers,
        json={
            "id": 7,
            "status": {
                "execution": "closed",
                "result": {"finished": "failure"},
                "code": 409,
                "details": ["too late to stop: writing flash"],
            },
        },
    )
    assert r.status_code == 200, r.text
    assert await _status(sessionmaker, inst.id) == "in_progress"
    async with sessionmaker() as session:
        ds = await session.scalar(
            select(DeviceSoftware).where(DeviceSoftware.device_id == device_id)
        )
        assert ds is not None and ds.installation_status == "installing"
    # answered once: the cancellation is gone, the action is offered again
    assert (await client.post(cfb, headers=headers, json={"status": {}})).status_code == 400
    r = await client.post(cfb, headers=headers, json={"status": {"execution": "rejected"}})
    assert r.status_code == 404  # no cancellation pending any more
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    assert "cancelAction" not in links and "deploymentBase" in links
    r = await client.post(
        ddi("MT-C", f"/deploymentBase/{inst.id}/feedback"),
        headers=headers,
        json={"status": {"execution": "closed", "result": {"finished": "success"}}},
    )
    assert r.status_code == 200
    assert await _status(sessionmaker, inst.id) == "completed"
    r = await client.get(f"{API}/installations/{inst.id}", headers=role_headers["maker"])
    kinds = [(x["kind"], x["execution"], x["code"]) for x in r.json()["device_reports"]]
    assert ("cancel", "closed", 409) in kinds
    assert "device rejected the cancellation" in r.json()["installation_log"]


async def test_cancel_confirmed_stays_canceled(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    await _deliver_and_cancel(client, sessionmaker, headers, "MT-C", inst.id)
    cfb = ddi("MT-C", f"/cancelAction/{inst.id}/feedback")
    # closed with finished none confirms, as success does
    r = await client.post(cfb, headers=headers, json={"status": {"execution": "closed"}})
    assert r.status_code == 200
    assert await _status(sessionmaker, inst.id) == "canceled"
    assert "_links" not in (await client.get(ddi("MT-C"), headers=headers)).json() or (
        "cancelAction" not in (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    )
    r = await client.get(ddi("MT-C", f"/cancelAction/{inst.id}"), headers=headers)
    assert r.status_code == 410


async def test_rejected_cancel_in_a_rollout_is_not_counted_as_canceled(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    maker = role_headers["maker"]
    version = await add_version(sessionmaker, settings)
    devices = []
    for n in (1, 2):
        device_id, headers = await add_ddi_device(
            client, sessionmaker, role_headers["maker"], f"MT-R{n}"
        )
        devices.append((device_id, headers))
    r = await client.post(
        f"{API}/rollouts",
        headers=maker,
        json={
            "version_id": version.id,
            "device_ids": [d for d, _h in devices],
            "group_size": 2,
            "success_threshold": 100,
            "error_threshold": 0,
        },
    )
    rid = r.json()["id"]
    assert (await client.post(f"{API}/rollouts/{rid}/start", headers=maker)).status_code == 200
    actions = {}
    async with sessionmaker() as session:
        for device_id, _h in devices:
            row = await session.scalar(
                select(SoftwareInstallation).where(SoftwareInstallation.device_id == device_id)
            )
            assert row is not None
            actions[device_id] = row.id
    first_id, first_headers = devices[0]
    await _deliver_and_cancel(client, sessionmaker, first_headers, "MT-R1", actions[first_id])
    r = await client.get(f"{API}/rollouts/{rid}", headers=maker)
    assert r.json()["groups"][0]["canceled_count"] == 1
    r = await client.post(
        ddi("MT-R1", f"/cancelAction/{actions[first_id]}/feedback"),
        headers=first_headers,
        json={"status": {"execution": "rejected", "details": ["busy"]}},
    )
    assert r.status_code == 200
    r = await client.get(f"{API}/rollouts/{rid}", headers=maker)
    assert r.json()["groups"][0]["canceled_count"] == 0
    for (device_id, headers), number in zip(devices, ("MT-R1", "MT-R2"), strict=True):
        r = await client.post(
            ddi(number, f"/deploymentBase/{actions[device_id]}/feedback"),
            headers=headers,
            json={"status": {"execution": "closed", "result": {"finished": "success"}}},
        )
        assert r.status_code == 200
    r = await client.get(f"{API}/rollouts/{rid}", headers=maker)
    assert r.json()["status"] == "finished" and r.json()["completed"] == 2


# -- tenant, base poll, installedBase, deploymentBase of a finished action --------------------
async def test_tenant_ignores_case_and_unknown_tenant_is_404(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    _device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    for tenant in ("default", "DEFAULT", "Default"):
        r = await client.get(f"/{tenant}/controller/v1/MT-C", headers=headers)
        assert r.status_code == 200, tenant
    assert (await client.get("/other/controller/v1/MT-C", headers=headers)).status_code == 404


async def test_installed_base_and_finished_deployment_base(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    poll = (await client.get(ddi("MT-C"), headers=headers)).json()
    assert "installedBase" not in poll["_links"]
    r = await client.get(ddi("MT-C", f"/installedBase/{inst.id}"), headers=headers)
    assert r.status_code == 404  # not installed yet
    fb = ddi("MT-C", f"/deploymentBase/{inst.id}/feedback")
    done = {"status": {"execution": "closed", "result": {"finished": "success"}}}
    assert (await client.post(fb, headers=headers, json=done)).status_code == 200
    poll = (await client.get(ddi("MT-C"), headers=headers)).json()
    href = poll["_links"]["installedBase"]["href"]
    assert href == f"http://testserver{ddi('MT-C', f'/installedBase/{inst.id}')}"
    r = await client.get(_path(href), headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == str(inst.id)
    chunk = body["deployment"]["chunks"][0]
    assert chunk["part"] == "os"  # a firmware package
    assert chunk["version"] == "1.0.0" and chunk["artifacts"]
    # hawkBit answers a finished action's deploymentBase with 200, not 410
    r = await client.get(ddi("MT-C", f"/deploymentBase/{inst.id}"), headers=headers)
    assert r.status_code == 200 and r.json()["id"] == str(inst.id)
    # actionHistory only when asked, newest first, in hawkBit's vocabulary
    assert "actionHistory" not in r.json()
    r = await client.get(ddi("MT-C", f"/deploymentBase/{inst.id}?actionHistory=5"), headers=headers)
    history = r.json()["actionHistory"]
    assert history["status"] == "FINISHED" and "closed (success)" in history["messages"][0]
    r = await client.get(ddi("MT-C", f"/installedBase/{inst.id}?actionHistory=x"), headers=headers)
    assert r.status_code == 400
    # another device cannot read it
    _other, other_headers = await add_ddi_device(
        client, sessionmaker, role_headers["maker"], "MT-X"
    )
    r = await client.get(ddi("MT-X", f"/installedBase/{inst.id}"), headers=other_headers)
    assert r.status_code == 404


async def test_part_is_the_hawkbit_module_type(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    firmware = await add_version(sessionmaker, settings)  # category "firmware"
    inst = await add_installation(sessionmaker, device_id, firmware.id)
    body = (await client.get(ddi("MT-C", f"/deploymentBase/{inst.id}"), headers=headers)).json()
    assert body["deployment"]["chunks"][0]["part"] == "os"
    assert module_type("application") == "bApp"
    assert module_type("driver") == "bApp" and module_type(None) == "bApp"


# -- ETag / If-None-Match ----------------------------------------------------------------------
async def test_etag_and_304_on_poll_deployment_and_installed_base(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    for path in (ddi("MT-C"), ddi("MT-C", f"/deploymentBase/{inst.id}")):
        r = await client.get(path, headers=headers)
        etag = r.headers["etag"]
        again = await client.get(path, headers={**headers, "If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == etag
        other = await client.get(path, headers={**headers, "If-None-Match": '"nope"'})
        assert other.status_code == 200
    # the poll's ETag changes with its content
    before = (await client.get(ddi("MT-C"), headers=headers)).headers["etag"]
    fb = ddi("MT-C", f"/deploymentBase/{inst.id}/feedback")
    done = {"status": {"execution": "closed", "result": {"finished": "success"}}}
    assert (await client.post(fb, headers=headers, json=done)).status_code == 200
    r = await client.get(ddi("MT-C"), headers={**headers, "If-None-Match": before})
    assert r.status_code == 200 and r.headers["etag"] != before
    installed = ddi("MT-C", f"/installedBase/{inst.id}")
    etag = (await client.get(installed, headers=headers)).headers["etag"]
    r = await client.get(installed, headers={**headers, "If-None-Match": etag})
    assert r.status_code == 304
    # no token, no 304: authentication comes first
    r = await client.get(installed, headers={"If-None-Match": etag})
    assert r.status_code == 401


# -- downloads -----------------------------------------------------------------------------------
async def test_download_head_if_match_range_and_md5sum(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    body = (await client.get(ddi("MT-C", f"/deploymentBase/{inst.id}"), headers=headers)).json()
    artifact = body["deployment"]["chunks"][0]["artifacts"][0]
    url = _path(artifact["_links"]["download-http"]["href"])
    size = artifact["size"]
    r = await client.head(url, headers=headers)
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) == size
    etag = r.headers["etag"]
    assert etag == f'"{artifact["hashes"]["sha1"]}"'
    assert (await client.get(url, headers={**headers, "If-Match": etag})).status_code == 200
    assert (await client.get(url, headers={**headers, "If-Match": "*"})).status_code == 200
    r = await client.get(url, headers={**headers, "If-Match": '"0000"'})
    assert r.status_code == 412
    for bad in ("bytes=abc", "bytes=5-2", f"bytes={size}-", "lines=0-1", "bytes=", "bytes=-0"):
        r = await client.get(url, headers={**headers, "Range": bad})
        assert r.status_code == 416, bad
        assert r.headers["content-range"] == f"bytes */{size}"
    r = await client.get(url, headers={**headers, "Range": f"bytes={size - 10}-"})
    assert r.status_code == 206 and len(r.content) == 10
    r = await client.get(url + ".MD5SUM", headers=headers)
    assert r.status_code == 200
    assert r.text == f"{artifact['hashes']['md5']}  {artifact['filename']}\n"
    disposition = r.headers["content-disposition"]
    assert disposition == f'attachment; filename="{artifact["filename"]}.MD5SUM"'
    r = await client.head(url + ".MD5SUM", headers=headers)
    assert r.status_code == 200 and r.content == b""
    # an installed module stays downloadable (hawkBit); another device's is not
    fb = ddi("MT-C", f"/deploymentBase/{inst.id}/feedback")
    done = {"status": {"execution": "closed", "result": {"finished": "success"}}}
    assert (await client.post(fb, headers=headers, json=done)).status_code == 200
    assert (await client.get(url, headers=headers)).status_code == 200
    module = ddi("MT-C", f"/softwaremodules/{version.id}/artifacts")
    assert (await client.get(module, headers=headers)).status_code == 200
    _other, other_headers = await add_ddi_device(
        client, sessionmaker, role_headers["maker"], "MT-X"
    )
    other_url = url.replace("/MT-C/", "/MT-X/")
    assert (await client.get(other_url, headers=other_headers)).status_code == 404


# -- delivery options: action type, maintenance window, confirmation --------------------------
async def _create(
    client: httpx.AsyncClient, maker: dict[str, str], device_id: int, version_id: int, **opts: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/installations",
        headers=maker,
        json={"device_id": device_id, "version_id": version_id, **opts},
    )


async def test_update_types_and_download_only(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    maker = role_headers["maker"]
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    r = await _create(client, maker, device_id, version.id, update_type="soft")
    assert r.status_code == 201, r.text
    assert r.json()["delivery"]["update_type"] == "soft"
    soft = r.json()["id"]
    body = (await client.get(ddi("MT-C", f"/deploymentBase/{soft}"), headers=headers)).json()
    assert (body["deployment"]["download"], body["deployment"]["update"]) == (
        "attempt",
        "attempt",
    )
    assert "maintenanceWindow" not in body["deployment"]
    fb = ddi("MT-C", f"/deploymentBase/{soft}/feedback")
    r = await client.post(fb, headers=headers, json={"status": {"execution": "closed"}})
    assert r.status_code == 200
    # download only: DDI download forced, update skip; "downloaded" finishes it, and the
    # device's software is left as it was
    other = await add_version(sessionmaker, settings, name="tester-app", version="3.0.0")
    r = await _create(client, maker, device_id, other.id, update_type="download_only")
    assert r.status_code == 201
    only = r.json()["id"]
    body = (await client.get(ddi("MT-C", f"/deploymentBase/{only}"), headers=headers)).json()
    assert (body["deployment"]["download"], body["deployment"]["update"]) == ("forced", "skip")
    fb = ddi("MT-C", f"/deploymentBase/{only}/feedback")
    r = await client.post(fb, headers=headers, json={"status": {"execution": "downloaded"}})
    assert r.status_code == 200
    assert await _status(sessionmaker, only) == "completed"
    async with sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(DeviceSoftware).where(DeviceSoftware.device_id == device_id)
            )
        )
    by_software = {row.software_id: row for row in rows}
    assert by_software[other.software_id].installation_status == "not_installed"
    assert by_software[other.software_id].version_id is None
    assert by_software[version.software_id].installed_version == "1.0.0"
    # bad options: 422 and nothing created
    for bad in (
        {"update_type": "later"},
        {
            "maintenance_window": {
                "schedule": "not a cron",
                "duration": "01:00:00",
                "timezone": "+00:00",
            }
        },
        {"maintenance_window": {"schedule": "0 0 2 * * ?", "duration": "1h", "timezone": "+00:00"}},
        {
            "maintenance_window": {
                "schedule": "0 0 2 * * ?",
                "duration": "01:00:00",
                "timezone": "CET",
            }
        },
    ):
        r = await _create(client, maker, device_id, version.id, **bad)
        assert r.status_code == 422, (bad, r.text)


async def test_maintenance_window(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    maker = role_headers["maker"]
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    # a window that starts every minute and lasts two: always open
    r = await _create(
        client,
        maker,
        device_id,
        version.id,
        maintenance_window={"schedule": "* * * * *", "duration": "00:02:00", "timezone": "+01:00"},
    )
    assert r.status_code == 201, r.text
    first = r.json()["id"]
    body = (await client.get(ddi("MT-C", f"/deploymentBase/{first}"), headers=headers)).json()
    assert body["deployment"]["maintenanceWindow"] == "available"
    assert body["deployment"]["update"] == "forced"
    done = {"status": {"execution": "closed", "result": {"finished": "success"}}}
    fb = ddi("MT-C", f"/deploymentBase/{first}/feedback")
    assert (await client.post(fb, headers=headers, json=done)).status_code == 200
    # a one-minute window twelve hours from now (Quartz style, with seconds): closed
    hour = (datetime.now(UTC).hour + 12) % 24
    other = await add_version(sessionmaker, settings, name="tester-app", version="3.0.0")
    window = {"schedule": f"0 0 {hour} ? * *", "duration": "00:01:00", "timezone": "+00:00"}
    r = await _create(client, maker, device_id, other.id, maintenance_window=window)
    assert r.status_code == 201, r.text
    assert r.json()["delivery"]["maintenance_window"] == window
    second = r.json()["id"]
    body = (await client.get(ddi("MT-C", f"/deploymentBase/{second}"), headers=headers)).json()
    assert body["deployment"]["maintenanceWindow"] == "unavailable"
    assert body["deployment"]["update"] == "skip"  # download now, install in the window
    assert window_available(
        Options(window_schedule=window["schedule"], window_duration="00:01:00",
                window_timezone="+00:00"),
        datetime.now(UTC).replace(hour=hour, minute=0, second=30),
    )  # fmt: skip


async def test_confirmation_and_auto_confirm(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    maker = role_headers["maker"]
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    r = await _create(client, maker, device_id, version.id, confirmation_required=True)
    assert r.status_code == 201
    inst = r.json()["id"]
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    assert "deploymentBase" not in links
    assert f"/confirmationBase/{inst}?c=" in links["confirmationBase"]["href"]
    base = (await client.get(ddi("MT-C", "/confirmationBase"), headers=headers)).json()
    assert base["autoConfirm"] == {"state": "inactive"}
    assert "activateAutoConfirm" in base["_links"] and "confirmationBase" in base["_links"]
    r = await client.get(_path(links["confirmationBase"]["href"]), headers=headers)
    assert r.status_code == 200 and r.json()["confirmation"]["chunks"][0]["version"] == "1.0.0"
    # the deployment itself waits for the confirmation
    cfb = ddi("MT-C", f"/confirmationBase/{inst}/feedback")
    assert (
        await client.post(cfb, headers=headers, json={"confirmation": "maybe"})
    ).status_code == 400
    denied = {"confirmation": "denied", "code": 7, "details": ["user said no"]}
    assert (await client.post(cfb, headers=headers, json=denied)).status_code == 200
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    assert "confirmationBase" in links  # hawkBit: a denied action keeps waiting
    assert (
        await client.post(cfb, headers=headers, json={"confirmation": "confirmed"})
    ).status_code == 200
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    assert "confirmationBase" not in links and "deploymentBase" in links
    assert (
        await client.post(cfb, headers=headers, json={"confirmation": "confirmed"})
    ).status_code == 404
    r = await client.get(f"{API}/installations/{inst}", headers=maker)
    assert [(x["kind"], x["execution"]) for x in r.json()["device_reports"]] == [
        ("confirmation", "denied"),
        ("confirmation", "confirmed"),
    ]
    done = {"status": {"execution": "closed", "result": {"finished": "success"}}}
    fb = ddi("MT-C", f"/deploymentBase/{inst}/feedback")
    assert (await client.post(fb, headers=headers, json=done)).status_code == 200
    # auto-confirm: the next action needing confirmation goes straight to deploymentBase
    on = ddi("MT-C", "/confirmationBase/activateAutoConfirm")
    body = {"initiator": "operator", "remark": "kiosk mode"}
    assert (await client.post(on, headers=headers, json=body)).status_code == 200
    assert (await client.post(on, headers=headers, json=body)).status_code == 409
    base = (await client.get(ddi("MT-C", "/confirmationBase"), headers=headers)).json()
    assert base["autoConfirm"]["state"] == "active"
    assert base["autoConfirm"]["initiator"] == "operator"
    assert "deactivateAutoConfirm" in base["_links"]
    other = await add_version(sessionmaker, settings, name="tester-app", version="3.0.0")
    r = await _create(client, maker, device_id, other.id, confirmation_required=True)
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    assert "deploymentBase" in links and "confirmationBase" not in links
    off = ddi("MT-C", "/confirmationBase/deactivateAutoConfirm")
    assert (await client.post(off, headers=headers)).status_code == 200
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    assert "confirmationBase" in links


async def test_rollout_options_reach_its_installations(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    maker = role_headers["maker"]
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    r = await client.post(
        f"{API}/rollouts",
        headers=maker,
        json={"version_id": version.id, "device_ids": [device_id], "update_type": "soft",
              "confirmation_required": True},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["delivery"]["update_type"] == "soft"
    rid = r.json()["id"]
    assert (await client.post(f"{API}/rollouts/{rid}/start", headers=maker)).status_code == 200
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    action = links["confirmationBase"]["href"].split("/confirmationBase/")[1].split("?")[0]
    r = await client.get(f"{API}/installations/{action}", headers=maker)
    assert r.json()["delivery"] == {
        "update_type": "soft",
        "maintenance_window": None,
        "confirmation_required": True,
    }
    r = await client.post(
        f"{API}/rollouts",
        headers=maker,
        json={"version_id": version.id, "device_ids": [device_id], "update_type": "never"},
    )
    assert r.status_code == 422


# -- uninstall --------------------------------------------------------------------------------
async def test_uninstall_is_not_offered_to_ddi_clients(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    """hawkBit has no uninstall, and a stock client reports an artifact-less chunk as a failed
    update: an uninstall is never linked to the device; the maker finishes it through the API
    once it is done on the device by other means (README, "Connecting devices")."""
    maker = role_headers["maker"]
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    fb = ddi("MT-C", f"/deploymentBase/{inst.id}/feedback")
    done = {"status": {"execution": "closed", "result": {"finished": "success"}}}
    assert (await client.post(fb, headers=headers, json=done)).status_code == 200
    r = await _create(client, maker, device_id, version.id, action="uninstall")
    assert r.status_code == 201, r.text
    uninstall = r.json()["id"]
    poll = (await client.get(ddi("MT-C"), headers=headers)).json()
    assert "deploymentBase" not in poll["_links"]
    r = await client.get(ddi("MT-C", f"/deploymentBase/{uninstall}"), headers=headers)
    assert r.status_code == 404
    for status in ("in_progress", "completed"):
        r = await client.patch(
            f"{API}/installations/{uninstall}", headers=maker, json={"status": status}
        )
        assert r.status_code == 200, r.text
    async with sessionmaker() as session:
        ds = await session.scalar(
            select(DeviceSoftware).where(DeviceSoftware.device_id == device_id)
        )
        assert ds is not None and ds.installation_status == "not_installed"
    # the installed base is the last install, the uninstall is never one
    poll = (await client.get(ddi("MT-C"), headers=headers)).json()
    assert poll["_links"]["installedBase"]["href"].endswith(f"/installedBase/{inst.id}")


# -- gateway token ----------------------------------------------------------------------------
async def test_gateway_token(
    app: Any,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    gateway = {"Authorization": "GatewayToken gw-secret-0123456789abcdef"}
    # off by default: refused
    assert (await client.get(ddi("GW-NEW"), headers=gateway)).status_code == 401
    app.state.device_api.gateway_token = "gw-secret-0123456789abcdef"
    app.state.feedback.gateway_token = "gw-secret-0123456789abcdef"
    wrong = {"Authorization": "GatewayToken gw-secret-0123456789abcdeX"}
    assert (await client.get(ddi("GW-NEW"), headers=wrong)).status_code == 401
    assert (await client.get("/other/controller/v1/GW-NEW", headers=gateway)).status_code == 404
    # an unknown controller polling with it is registered (audited)
    r = await client.get(ddi("GW-NEW"), headers=gateway)
    assert r.status_code == 200, r.text
    assert "configData" in r.json()["_links"]
    async with sessionmaker() as session:
        device = await session.scalar(select(Device).where(Device.device_number == "GW-NEW"))
        assert device is not None and device.status == "active"
        logs = list(
            await session.scalars(select(SystemLog).where(SystemLog.action == "device.registered"))
        )
    assert [log.details["device_number"] for log in logs] == ["GW-NEW"]
    assert (await client.get(ddi("GW-NEW"), headers=gateway)).status_code == 200  # once
    # it acts for any controller: an existing one with its own token, the whole flow
    device_id, _headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    r = await client.get(ddi("MT-C", f"/deploymentBase/{inst.id}"), headers=gateway)
    assert r.status_code == 200
    fb = ddi("MT-C", f"/deploymentBase/{inst.id}/feedback")
    done = {"status": {"execution": "closed", "result": {"finished": "success"}}}
    assert (await client.post(fb, headers=gateway, json=done)).status_code == 200
    assert await _status(sessionmaker, inst.id) == "completed"
    # only the poll registers; another resource of an unknown controller is 404
    r = await client.put(ddi("GW-OTHER", "/configData"), headers=gateway, json={"data": {}})
    assert r.status_code == 404


# -- quotas -----------------------------------------------------------------------------------
async def test_poll_and_feedback_quotas_answer_429(
    app: Any,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    app.state.device_api.poll_quota_per_minute = 5
    app.state.device_api.feedback_quota_per_minute = 3
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    _other, other_headers = await add_ddi_device(
        client, sessionmaker, role_headers["maker"], "MT-X"
    )
    codes = [(await client.get(ddi("MT-C"), headers=headers)).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    r = await client.get(ddi("MT-C"), headers=headers)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert (await client.get(ddi("MT-X"), headers=other_headers)).status_code == 200
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    fb = ddi("MT-C", f"/deploymentBase/{inst.id}/feedback")
    progress = {"status": {"execution": "proceeding"}}
    codes = [(await client.post(fb, headers=headers, json=progress)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    # counted per credential: a client without the device's token cannot use it up
    assert (await client.post(fb, json=progress)).status_code == 401
    app.state.device_api.poll_quota_per_minute = 0  # 0 turns a quota off
    assert (await client.get(ddi("MT-C"), headers=headers)).status_code == 200


# -- configData ---------------------------------------------------------------------------------
async def test_config_data_is_asked_again_after_every_success(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
    settings: Settings,
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-C")
    put = ddi("MT-C", "/configData")
    attrs = {"mode": "merge", "data": {"swVersion": "0.9"}}
    assert (await client.put(put, headers=headers, json=attrs)).status_code == 200
    assert "_links" not in (await client.get(ddi("MT-C"), headers=headers)).json()
    version = await add_version(sessionmaker, settings)
    inst = await add_installation(sessionmaker, device_id, version.id)
    fb = ddi("MT-C", f"/deploymentBase/{inst.id}/feedback")
    failed = {"status": {"execution": "closed", "result": {"finished": "failure"}}}
    assert (await client.post(fb, headers=headers, json=failed)).status_code == 200
    # a failure changes nothing on the device: not asked
    assert "configData" not in (await client.get(ddi("MT-C"), headers=headers)).json().get(
        "_links", {}
    )
    again = await add_installation(sessionmaker, device_id, version.id)
    fb = ddi("MT-C", f"/deploymentBase/{again.id}/feedback")
    done = {"status": {"execution": "closed", "result": {"finished": "success"}}}
    assert (await client.post(fb, headers=headers, json=done)).status_code == 200
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    assert links["configData"]["href"].endswith("/MT-C/configData")
    attrs = {"mode": "merge", "data": {"swVersion": "1.0.0"}}
    assert (await client.put(put, headers=headers, json=attrs)).status_code == 200
    links = (await client.get(ddi("MT-C"), headers=headers)).json()["_links"]
    assert "configData" not in links and "installedBase" in links
