"""An existing DDI client not written here (rauc-hawkbit's DDIClient) against a real server."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from rauc_hawkbit.ddi.cancel_action import CancelStatusExecution, CancelStatusResult
from rauc_hawkbit.ddi.client import ConfigStatusExecution, ConfigStatusResult, DDIClient
from rauc_hawkbit.ddi.deployment_base import DeploymentStatusExecution, DeploymentStatusResult
from sqlalchemy import select

from fleet import migrate
from fleet.cli import db_session
from fleet.db import create_engine, create_sessionmaker
from fleet.devices_api import simulator
from fleet.models import (
    DdiAction,
    Device,
    DeviceAttributes,
    DeviceSoftware,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
)
from fleet.settings import Settings
from fleet.software.installations import create_installation, transition
from fleet.software.policy import INSTALLATION_POLICY
from tests.support import base_env, serve


@pytest.fixture(scope="module")
def ddi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    """A real `fleet serve` (SQLite, its own data dir) polled every second."""
    data = tmp_path_factory.mktemp("ddi-server")
    settings = Settings(env="development", data_dir=data, database_url=None)
    migrate.upgrade(settings)
    env = base_env(None, data, FLEET_DDI_POLLING_SECONDS="1")
    with serve(env, data / "server.log") as served:
        yield served.address, settings


def _seed(settings: Settings) -> tuple[str, list[int]]:
    """One device with a token and three firmware versions; answers the token and version ids."""
    folder = settings.data_dir / "artifacts"
    folder.mkdir(exist_ok=True)
    with db_session(settings) as session:
        device = simulator.provision(session, 1, "RC")[0]
        software = Software(name="rc-firmware", category="firmware", is_active=True)
        session.add(software)
        session.flush()
        ids = []
        for i, number in enumerate(("1.0.0", "1.1.0", "1.2.0")):
            content = os.urandom(150_000 + i)
            path = folder / f"rc-{number}.raucb"
            path.write_bytes(content)
            version = SoftwareVersion(
                software_id=software.id,
                version_number=number,
                file_path=str(path),
                file_size=len(content),
                checksum=hashlib.sha256(content).hexdigest(),
            )
            session.add(version)
            session.flush()
            ids.append(version.id)
    return device.token, ids


async def _install(settings: Settings, version_id: int) -> int:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            device_id = await session.scalar(
                select(Device.id).where(Device.device_number == "RC-00001")
            )
            assert device_id is not None
            row = await create_installation(
                session,
                device_id=device_id,
                version_id=version_id,
                action="install",
                initiated_by=None,
                ip=None,
            )
            return row.id
    finally:
        await engine.dispose()


async def _installation(settings: Settings, installation_id: int) -> SoftwareInstallation:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            row = await session.get(SoftwareInstallation, installation_id)
            assert row is not None
            return row
    finally:
        await engine.dispose()


async def _deploy(ddi: DDIClient, tmp: Path) -> tuple[str, dict[str, str], str]:
    """What rauc-hawkbit's own polling loop does up to a verified download."""
    base = await ddi()
    assert base["config"]["polling"]["sleep"] == "00:00:01"
    href = base["_links"]["deploymentBase"]["href"]
    match = re.search(r"/deploymentBase/(.+)\?c=(.+)$", href)
    assert match is not None
    action_id, resource = match.groups()
    info = await ddi.deploymentBase[action_id](resource)
    artifact = info["deployment"]["chunks"][0]["artifacts"][0]
    url = artifact["_links"]["download-http"]["href"]
    found = re.search("/softwaremodules/(.+)/artifacts/(.+)$", url)
    assert found is not None
    module, filename = found.groups()
    md5 = await ddi.softwaremodules[module].artifacts[filename](str(tmp / filename))
    return action_id, artifact["hashes"], md5


async def test_rauc_hawkbit_client(ddi_server: tuple[str, Settings], tmp_path: Path) -> None:
    host, settings = ddi_server
    token, versions = _seed(settings)
    async with aiohttp.ClientSession() as http:
        ddi = DDIClient(http, host, False, token, "DEFAULT", "RC-00001", timeout=10)
        base = await ddi()
        assert "configData" in base["_links"]
        await ddi.configData(
            ConfigStatusExecution.closed,
            ConfigStatusResult.success,
            hwRevision="2",
            serial="RC-SERIAL",
        )

        # 1: success
        first = await _install(settings, versions[0])
        action_id, hashes, md5 = await _deploy(ddi, tmp_path)
        assert action_id == str(first) and md5 == hashes["md5"]
        data = (tmp_path / "rc-1.0.0.raucb").read_bytes()
        assert hashlib.sha256(data).hexdigest() == hashes["sha256"]
        await ddi.deploymentBase[action_id].feedback(
            DeploymentStatusExecution.proceeding, DeploymentStatusResult.none, ["Installing"]
        )
        await ddi.deploymentBase[action_id].feedback(
            DeploymentStatusExecution.closed, DeploymentStatusResult.success, ["Installed"]
        )
        assert (await _installation(settings, first)).status == "completed"

        # 2: failure
        second = await _install(settings, versions[1])
        action_id, hashes, md5 = await _deploy(ddi, tmp_path)
        assert action_id == str(second) and md5 == hashes["md5"]
        await ddi.deploymentBase[action_id].feedback(
            DeploymentStatusExecution.closed,
            DeploymentStatusResult.failure,
            ["Install failed: bundle signature"],
        )
        failed = await _installation(settings, second)
        assert failed.status == "failed"
        assert failed.error_message == "Install failed: bundle signature"

        # 3: canceled by a user while the device works on it; rauc-hawkbit rejects cancels
        third = await _install(settings, versions[2])
        await _deploy(ddi, tmp_path)
        engine = create_engine(settings)
        async with create_sessionmaker(engine)() as session, session.begin():
            row = await session.get(SoftwareInstallation, third)
            assert row is not None
            await transition(
                session, row, "canceled", policy=INSTALLATION_POLICY, log_line="canceled by maker"
            )
        base = await ddi()
        match = re.search("/cancelAction/(.+)$", base["_links"]["cancelAction"]["href"])
        assert match is not None
        stop = (await ddi.cancelAction[match.group(1)]())["cancelAction"]["stopId"]
        assert stop == str(third)
        await ddi.cancelAction[stop].feedback(
            CancelStatusExecution.rejected, CancelStatusResult.success
        )
        # hawkBit: a rejected cancellation puts the action back to running; the device goes
        # on, and its success is taken: server and device agree on what runs
        assert (await _installation(settings, third)).status == "in_progress"
        base = await ddi()
        assert "cancelAction" not in base["_links"]
        action_id, hashes, md5 = await _deploy(ddi, tmp_path)
        assert action_id == str(third) and md5 == hashes["md5"]
        await ddi.deploymentBase[action_id].feedback(
            DeploymentStatusExecution.closed, DeploymentStatusResult.success, ["Installed"]
        )
        assert (await _installation(settings, third)).status == "completed"
        async with create_sessionmaker(engine)() as session:
            action = await session.get(DdiAction, third)
            attrs = await session.get(DeviceAttributes, failed.device_id)
            running = await session.scalar(
                select(DeviceSoftware.installed_version).where(
                    DeviceSoftware.device_id == failed.device_id
                )
            )
        await engine.dispose()
        assert action is not None and action.cancel_result == "rejected"
        assert running == "1.2.0"
        assert attrs is not None and attrs.attributes == {"hwRevision": "2", "serial": "RC-SERIAL"}
        # after a success the device is asked for its attributes again (its version changed)
        base = await ddi()
        assert "configData" in base["_links"]
        assert base["_links"]["installedBase"]["href"].endswith(f"/installedBase/{third}")
