"""Demo software (``fleet demo``): firmware and tool packages with versions and artifacts, one
finished roll-out on the demo mask testers and one ready for the user to start (a started one
moves only while devices poll: ``fleet serve --demo``). Idempotent."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.db import utcnow
from fleet.models import (
    Device,
    DeviceSoftware,
    Rollout,
    RolloutGroup,
    RolloutTarget,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
    User,
)
from fleet.settings import get_settings
from fleet.software.artifacts import ARTIFACT_DIR, download_url

MASK_TESTERS = {"device_types": ["mask_tester"]}
SENSORS = {"device_types": ["pressure_sensor", "flow_meter"]}

# name, category, vendor, platform, description, [(version, stable, beta, compatibility, days ago)]
PACKAGES: list[tuple[str, str, str, str, str, list[tuple[str, bool, bool, Any, int]]]] = [
    (
        "Mask Tester Firmware",
        "firmware",
        "Fleet Labs",
        "arm-cortex-m7",
        "Bench firmware: pressure control loop, leak and valve tests.",
        [
            ("2.8.0", True, False, MASK_TESTERS, 300),
            ("2.9.0", True, False, MASK_TESTERS, 120),
            ("2.10.0", True, False, MASK_TESTERS, 14),
            ("3.0.0-beta.1", False, True, MASK_TESTERS, 3),
        ],
    ),
    (
        "Sensor Firmware",
        "firmware",
        "Fleet Labs",
        "arm-cortex-m0",
        "Firmware of the pressure sensors and flow meters.",
        [("1.2.0", True, False, SENSORS, 200), ("1.3.0", True, False, SENSORS, 30)],
    ),
    (
        "Calibration Tool",
        "tool",
        "Fleet Labs",
        "linux-x86_64",
        "Workshop tool that calibrates benches against a reference gauge.",
        [("4.0.1", True, False, None, 90), ("4.1.0", True, False, None, 7)],
    ),
]
ROLLOUT_DEVICES = ["MT-0001", "MT-0002", "FFM-1001", "FFM-1002", "FFM-1003", "FFM-1004"]


def _artifact(name: str, version: SoftwareVersion) -> None:
    settings = get_settings()
    root = settings.data_dir / ARTIFACT_DIR
    root.mkdir(parents=True, exist_ok=True)
    content = (f"{name} {version.version_number} demo image\n".encode()) * 2048
    digest = hashlib.sha256(content).hexdigest()
    file_name = f"v{version.id}-{digest}.bin"
    (root / file_name).write_bytes(content)
    version.file_path = f"{ARTIFACT_DIR}/{file_name}"
    version.file_size = len(content)
    version.checksum = digest
    version.download_url = download_url(version.id)


def _install(
    session: Session,
    device: Device,
    version: SoftwareVersion,
    previous: SoftwareVersion | None,
    status: str,
    user_id: int | None,
    when: Any,
) -> SoftwareInstallation:
    ds = session.scalar(
        select(DeviceSoftware).where(
            DeviceSoftware.device_id == device.id,
            DeviceSoftware.software_id == version.software_id,
        )
    )
    if ds is None:
        ds = DeviceSoftware(
            device_id=device.id,
            software_id=version.software_id,
            installation_status="not_installed",
        )
        session.add(ds)
    point = {
        "software_id": version.software_id,
        "version_id": ds.version_id,
        "version": ds.installed_version,
        "configuration": ds.configuration,
        "installation_status": ds.installation_status or "not_installed",
    }
    stamp = when.isoformat(timespec="seconds")
    log = f"{stamp} [pending] {'update' if previous else 'install'} {version.version_number}"
    if status != "pending":
        log += f"\n{stamp} [in_progress] 10% downloading"
    if status == "completed":
        log += f"\n{stamp} [completed] 100% installed"
    installation = SoftwareInstallation(
        device_id=device.id,
        version_id=version.id,
        action="update" if previous else "install",
        status=status,
        initiated_by=user_id,
        started_at=when,
        completed_at=when + timedelta(minutes=7) if status == "completed" else None,
        installation_log=log,
        previous_version=previous.version_number if previous else None,
        new_version=version.version_number,
        rollback_point=point,
    )
    session.add(installation)
    if status == "completed":
        ds.version_id = version.id
        ds.installed_version = version.version_number
        ds.installation_status = "installed"
        ds.installation_date = when + timedelta(minutes=7)
    else:
        ds.installation_status = "installing"
    session.flush()
    return installation


def _rollout(
    session: Session,
    name: str,
    version: SoftwareVersion,
    devices: list[Device],
    outcome: list[str],
    status: str,
    user_id: int | None,
    when: Any,
    previous: SoftwareVersion | None,
) -> None:
    """A roll-out in groups of 3 whose devices' installations ended as ``outcome`` says."""
    rollout = Rollout(
        name=name,
        version_id=version.id,
        status=status,
        target={"device_ids": [d.id for d in devices]},
        group_size=3,
        success_threshold=90,
        error_threshold=10,
        current_group=0,
        total_devices=len(devices),
        created_by=user_id,
        created_at=when,
        started_at=when if status != "draft" else None,
        finished_at=when + timedelta(hours=2) if status == "finished" else None,
    )
    session.add(rollout)
    session.flush()
    for position in range(0, len(devices), 3):
        chunk = list(
            zip(devices[position : position + 3], outcome[position : position + 3], strict=True)
        )
        started = any(o != "waiting" for _d, o in chunk)
        done = [o for _d, o in chunk if o == "completed"]
        group = RolloutGroup(
            rollout_id=rollout.id,
            position=position // 3,
            status=(
                "succeeded"
                if len(done) * 100 >= 90 * len(chunk)
                else "running"
                if started
                else "waiting"
            ),
            device_count=len(chunk),
            completed_count=len(done),
            failed_count=0,
            canceled_count=0,
            started_at=when if started else None,
        )
        session.add(group)
        session.flush()
        if started:
            rollout.current_group = group.position
        for device, state in chunk:
            installation = (
                _install(session, device, version, previous, state, user_id, when)
                if state != "waiting"
                else None
            )
            session.add(
                RolloutTarget(
                    rollout_id=rollout.id,
                    group_id=group.id,
                    device_id=device.id,
                    installation_id=installation.id if installation else None,
                )
            )
    session.flush()


def seed_software(session: Session) -> int:
    """Create the demo packages and roll-outs unless they exist; answers rows created."""
    if session.scalar(select(Software.id).where(Software.name == PACKAGES[0][0])):
        return 0
    user_id = session.scalar(select(User.id).where(User.username == "maker1"))
    now = utcnow()
    created = 0
    versions: dict[str, SoftwareVersion] = {}
    for name, category, vendor, platform, description, releases in PACKAGES:
        software = Software(
            name=name,
            category=category,
            vendor=vendor,
            platform=platform,
            description=description,
            license_type="proprietary",
            created_by=user_id,
            is_active=True,
        )
        session.add(software)
        session.flush()
        created += 1
        for number, stable, beta, compat, days in releases:
            version = SoftwareVersion(
                software_id=software.id,
                version_number=number,
                release_notes=f"{name} {number}",
                changelog=f"- changes of {number}",
                is_stable=stable,
                is_beta=beta,
                requires_reboot=category == "firmware",
                compatibility=compat,
                created_by=user_id,
                released_at=now - timedelta(days=days),
            )
            session.add(version)
            session.flush()
            _artifact(name, version)
            versions[f"{name} {number}"] = version
            created += 1
    by_number = {
        d.device_number: d
        for d in session.scalars(select(Device).where(Device.device_number.in_(ROLLOUT_DEVICES)))
    }
    devices = [by_number[n] for n in ROLLOUT_DEVICES if n in by_number]
    if len(devices) == len(ROLLOUT_DEVICES):
        fw = "Mask Tester Firmware"
        _rollout(
            session,
            f"{fw} 2.9.0 to the workshop and brigade testers",
            versions[f"{fw} 2.9.0"],
            devices,
            ["completed"] * 6,
            "finished",
            user_id,
            now - timedelta(days=100),
            None,
        )
        _rollout(
            session,
            f"{fw} 2.10.0 staged",
            versions[f"{fw} 2.10.0"],
            devices,
            ["waiting"] * 6,
            "draft",  # waits for the user's Start: nothing would take it further without devices
            user_id,
            now - timedelta(hours=3),
            versions[f"{fw} 2.9.0"],
        )
        # Those still on 2.9.0 are outdated now that 2.10.0 is out.
        for ds in session.scalars(
            select(DeviceSoftware).where(
                DeviceSoftware.version_id == versions[f"{fw} 2.9.0"].id,
                DeviceSoftware.installation_status == "installed",
            )
        ):
            ds.installation_status = "outdated"
        created += 2
    session.flush()
    return created
