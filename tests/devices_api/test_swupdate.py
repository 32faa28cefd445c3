"""End to end with Debian's swupdate in suricatta (hawkBit) mode against a live `fleet serve`,
on SQLite and on PostgreSQL: poll, download (the client checks the hashes we announce),
install, report; a failing image; a roll-out to several SWUpdate devices.

Like a real device, swupdate installs, then waits for a restart to report the result; the test
restarts it with ``-c 2`` (confirm success), as the device's boot after the update would.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from fleet import migrate
from fleet.cli import db_session
from fleet.db import create_engine, create_sessionmaker
from fleet.devices_api import simulator
from fleet.models import (
    ArtifactHashes,
    DdiActionStatus,
    Device,
    DeviceAttributes,
    DeviceSoftware,
    Rollout,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
)
from fleet.settings import Settings
from fleet.software import rollouts
from fleet.software.installations import create_installation
from tests.conftest import BACKENDS, PG_URL, truncate_postgres
from tests.devices_api.swu import (
    SigningKey,
    build_swu,
    make_signing_key,
    suricatta_config,
    swupdate_command,
)
from tests.support import base_env, serve

DEVICES = 4
# swupdate's line once an image is installed: the device then reboots (here: swupdate restarts
# with ``-c 2``) and reports the result. (swupdate 2022.12 can hang in suricatta after an
# installation while its log thread talks to the server; the reboot that follows an update on a
# real device makes that harmless, and so does the restart here.)
INSTALLED = "SWUPDATE successful !"


@dataclass
class Lab:
    url: str
    settings: Settings
    folder: Path
    signer: SigningKey
    tokens: dict[str, str]
    versions: dict[str, int]
    software_id: int


def _seed(settings: Settings, folder: Path, signer: SigningKey) -> Lab:
    artifacts = settings.data_dir / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    with db_session(settings) as session:
        devices = simulator.provision(session, DEVICES, "SWU")
        software = Software(name="tester-app", category="application", is_active=True)
        session.add(software)
        session.flush()
        versions = {}
        # What each version does on the device: install into the device's folder, or fail.
        for number, fail in (("1.0.0", False), ("1.1.0", True), ("2.0.0", False), ("2.1.0", False)):
            # a relative path: each device's swupdate runs in its own folder
            image = build_swu(
                folder, signer, version=number, install_to=Path("installed"), fail=fail
            )
            path = artifacts / f"tester-app-{number}.swu"
            path.write_bytes(image)
            row = SoftwareVersion(
                software_id=software.id,
                version_number=number,
                file_path=str(path),
                file_size=len(image),
                checksum=hashlib.sha256(image).hexdigest(),
                is_stable=not number.endswith(".1.0"),
            )
            session.add(row)
            session.flush()
            versions[number] = row.id
        tokens = {d.controller_id: d.token for d in devices}
        software_id = software.id
    return Lab("", settings, folder, signer, tokens, versions, software_id)


@pytest.fixture(autouse=True)
def _close_bus() -> None:
    """These tests talk to a server of their own, not to the in-process app."""


@pytest.fixture(scope="module", params=BACKENDS)
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A real `fleet serve` (polled every second) with four devices and signed images."""
    folder = tmp_path_factory.mktemp(f"swupdate-{request.param}")
    data = folder / "data"
    data.mkdir()
    url = PG_URL if request.param == "postgresql" else None
    settings = Settings(env="development", data_dir=data, database_url=url)
    migrate.upgrade(settings)
    if url:
        truncate_postgres(url)
    signer = make_signing_key(folder)
    lab = _seed(settings, folder, signer)
    env = base_env(url, data, FLEET_DDI_POLLING_SECONDS="1")
    try:
        with serve(env, folder / "server.log") as served:
            lab.url = served.base
            yield lab
    finally:
        if url:
            truncate_postgres(url)


async def _in_db(settings: Settings, work: Callable[[Any], Any]) -> Any:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def db(settings: Settings, work: Callable[[Any], Any]) -> Any:
    return asyncio.run(_in_db(settings, work))


def _device_id(settings: Settings, number: str) -> int:
    async def work(session: Any) -> int:
        found = await session.scalar(select(Device.id).where(Device.device_number == number))
        assert found is not None
        return int(found)

    return int(db(settings, work))


def _install(lab: Lab, number: str, version: str) -> int:
    device_id = _device_id(lab.settings, number)

    async def work(session: Any) -> int:
        row = await create_installation(
            session,
            device_id=device_id,
            version_id=lab.versions[version],
            action="install" if version == "1.0.0" else "update",
            initiated_by=None,
            ip=None,
        )
        return int(row.id)

    return int(db(lab.settings, work))


def _installation(settings: Settings, installation_id: int) -> SoftwareInstallation:
    async def work(session: Any) -> SoftwareInstallation:
        row = await session.get(SoftwareInstallation, installation_id)
        assert row is not None
        return row

    result: SoftwareInstallation = db(settings, work)
    return result


class Device_:
    """One swupdate device: its own folder (TMPDIR, installed files, logs, configuration)."""

    def __init__(self, lab: Lab, number: str) -> None:
        self.lab = lab
        self.number = number
        self.home = lab.folder / number
        (self.home / "tmp").mkdir(parents=True, exist_ok=True)
        (self.home / "installed").mkdir(exist_ok=True)
        self.config = suricatta_config(
            self.home / "swupdate.cfg",
            url=lab.url,
            controller_id=number,
            token=lab.tokens[number],
        )
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: Path = self.home / "swupdate-0.log"

    def start(self, confirm: int | None = None) -> None:
        self.runs += 1
        self.log = self.home / f"swupdate-{self.runs}.log"
        env = {**os.environ, "TMPDIR": str(self.home / "tmp")}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                swupdate_command(self.config, self.lab.signer, confirm=confirm),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.home,
                start_new_session=True,  # swupdate forks helpers: stop the whole group
            )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def installed_file(self) -> Path:
        return self.home / "installed" / "payload.txt"


def supervise(
    device: Device_,
    done: Callable[[], bool],
    what: str,
    *,
    confirm: int | None = None,
    attempts: int = 4,
    each: float = 45,
) -> None:
    """Run swupdate until ``done``, restarting it when it makes no progress, as a device's
    supervisor (systemd, a watchdog) does: swupdate 2022.12 can hang in suricatta right after
    an installation ends, before its last report; started again it polls, finds the action
    still open and does it again."""
    for _attempt in range(attempts):
        device.start(confirm)
        try:
            deadline = time.monotonic() + each
            while time.monotonic() < deadline:
                if done():
                    return
                time.sleep(0.5)
        finally:
            device.stop()
    raise AssertionError(f"timed out waiting for {what}:\n{device.text()[-4000:]}")


def _update_and_confirm(device: Device_, installation_id: int, settings: Settings) -> None:
    """Install, then restart swupdate to confirm (``-c 2``) as the device's boot would."""
    supervise(device, lambda: INSTALLED in device.text(), "the installation")
    assert _installation(settings, installation_id).status == "in_progress"
    supervise(
        device,
        lambda: _installation(settings, installation_id).status == "completed",
        f"installation {installation_id} completed",
        confirm=2,
    )


def _device_software(settings: Settings, number: str, software_id: int) -> DeviceSoftware:
    device_id = _device_id(settings, number)

    async def work(session: Any) -> DeviceSoftware:
        row = await session.scalar(
            select(DeviceSoftware).where(
                DeviceSoftware.device_id == device_id, DeviceSoftware.software_id == software_id
            )
        )
        assert row is not None
        return row

    result: DeviceSoftware = db(settings, work)
    return result


def test_swupdate_installs_and_reports_success(lab: Lab) -> None:
    device = Device_(lab, "SWU-00001")
    installation = _install(lab, device.number, "1.0.0")
    _update_and_confirm(device, installation, lab.settings)
    assert device.installed_file.read_text() == "fleet payload 1.0.0\n"
    ds = _device_software(lab.settings, device.number, lab.software_id)
    # 2.0.0, a newer stable version, exists
    assert (ds.installed_version, ds.installation_status) == ("1.0.0", "outdated")
    row = _installation(lab.settings, installation)
    assert "Update Installed" in (row.installation_log or "")
    server_log = (lab.folder / "server.log").read_text()
    assert "HEAD /default/controller/v1/SWU-00001/softwaremodules/" in server_log

    # swupdate's reports are kept, in order, with their details
    async def reports(session: Any) -> list[tuple[str, str | None]]:
        rows = await session.scalars(
            select(DdiActionStatus)
            .where(DdiActionStatus.installation_id == installation)
            .order_by(DdiActionStatus.id)
        )
        return [(r.execution, r.finished) for r in rows]

    history = db(lab.settings, reports)
    assert history[0] == ("proceeding", "none") and history[-1] == ("closed", "success")

    # the device's attributes (its `identify` section) came over configData
    device_id = _device_id(lab.settings, device.number)

    async def attributes(session: Any) -> dict[str, Any]:
        row = await session.get(DeviceAttributes, device_id)
        return dict(row.attributes) if row else {}

    assert db(lab.settings, attributes) == {"board": "fleet-tester", "client": "swupdate"}


def test_swupdate_failing_image_is_failed_with_its_details(lab: Lab) -> None:
    device = Device_(lab, "SWU-00002")
    installation = _install(lab, device.number, "1.0.0")
    _update_and_confirm(device, installation, lab.settings)
    failing = _install(lab, device.number, "1.1.0")
    supervise(
        device,
        lambda: _installation(lab.settings, failing).status == "failed",
        "the failing image reported as failed",
    )
    row = _installation(lab.settings, failing)
    # swupdate's final report says why it gave up; the reports before it carry its log, with
    # the script's own message: all kept with the installation
    assert "No suitable .swu image found" in (row.error_message or ""), row.error_message

    async def details(session: Any) -> list[str]:
        rows = await session.scalars(
            select(DdiActionStatus).where(DdiActionStatus.installation_id == failing)
        )
        return [line for r in rows for line in (r.details or [])]

    assert any("fleet check refused the update" in line for line in db(lab.settings, details))
    ds = _device_software(lab.settings, device.number, lab.software_id)
    assert ds.installation_status == "failed" and ds.installed_version == "1.0.0"
    assert device.installed_file.read_text() == "fleet payload 1.0.0\n"


def test_swupdate_checks_the_hashes_we_announce(lab: Lab) -> None:
    """The client verifies the download against the deploymentBase's hashes: announce a
    wrong SHA-1 and it refuses the image and reports the failure."""
    device = Device_(lab, "SWU-00003")
    version_id = lab.versions["2.1.0"]
    installation = _install(lab, device.number, "1.0.0")
    _update_and_confirm(device, installation, lab.settings)
    bad = _install(lab, device.number, "2.1.0")

    async def spoil(session: Any) -> None:
        await session.execute(
            update(ArtifactHashes)
            .where(ArtifactHashes.version_id == version_id)
            .values(sha1="0" * 40)
        )

    # the hashes are cached once computed: compute them, then spoil the announced SHA-1
    httpx.get(
        f"{lab.url}/default/controller/v1/{device.number}/deploymentBase/{bad}",
        headers={"Authorization": f"TargetToken {lab.tokens[device.number]}"},
    ).raise_for_status()
    db(lab.settings, spoil)
    supervise(
        device,
        lambda: _installation(lab.settings, bad).status == "failed",
        "the download with a wrong hash reported as failed",
    )
    # swupdate installs while it streams, and checks the SHA-1 at the end of the stream
    # and reports the failure (its details name no reason; its own log does)
    assert "Checksum does not match: Should be '0000000000000000000000000000000000000000'" in (
        device.text()
    )


def test_rollout_to_swupdate_devices_finishes(lab: Lab) -> None:
    numbers = ["SWU-00001", "SWU-00002", "SWU-00004"]
    ids = [_device_id(lab.settings, n) for n in numbers]

    async def create(session: Any) -> int:
        rollout, excluded = await rollouts.create_rollout(
            session,
            name="swupdate fleet",
            version_id=lab.versions["2.0.0"],
            device_ids=ids,
            flt=None,
            group_size=2,
            success_threshold=100,
            error_threshold=0,
            user_id=None,
            ip=None,
        )
        assert excluded == []
        await rollouts.start(session, rollout.id, user_id=None, ip=None)
        return int(rollout.id)

    rollout_id = db(lab.settings, create)
    devices = [Device_(lab, n) for n in numbers]

    def finished() -> bool:
        async def work(session: Any) -> str:
            return str((await session.get(Rollout, rollout_id)).status)

        return bool(db(lab.settings, work) == "finished")

    # Each device installs, then "reboots" (swupdate again with -c 2) to report; the second
    # group starts once the first has confirmed. A run that makes no progress for a while is
    # restarted, as a device's supervisor would (see ``supervise``).
    phase = dict.fromkeys(numbers, "install")
    since = dict.fromkeys(numbers, time.monotonic())
    for device in devices:
        device.start()
    try:
        deadline = time.monotonic() + 300
        while not finished():
            for device in devices:
                if phase[device.number] == "install" and INSTALLED in device.text():
                    device.stop()
                    device.start(confirm=2)
                    phase[device.number] = "confirm"
                    since[device.number] = time.monotonic()
                elif time.monotonic() - since[device.number] > 45:
                    device.stop()
                    device.start(confirm=2 if phase[device.number] == "confirm" else None)
                    since[device.number] = time.monotonic()
            if time.monotonic() > deadline:
                raise AssertionError(f"the roll-out did not finish: {phase}")
            time.sleep(0.5)
    finally:
        for device in devices:
            device.stop()
    for number in numbers:
        ds = _device_software(lab.settings, number, lab.software_id)
        assert (ds.installed_version, ds.installation_status) == ("2.0.0", "installed")
        assert Device_(lab, number).installed_file.read_text() == "fleet payload 2.0.0\n"
