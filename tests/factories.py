"""The tests' factories, one of each: rows straight into the database (``add_*``, they answer
ids) and objects made through the API as a client makes them (``create_*``, they answer the JSON
the API answered). Everything but the session factory (or the client and its headers) is a
keyword with a default; a test names only what it cares about.

Users, tokens and sign-in (``add_user``, ``login``, ``bearer``) are here too; the DDI helpers
(``issue_token``, ``target``, ``ddi``) say how a device signs in and whom it asks.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.auth.security import hash_password_sync
from fleet.models import (
    Customer,
    Device,
    DeviceDueDate,
    JsonTemplate,
    Software,
    SoftwareInstallation,
    SoftwareVersion,
    TestReport,
    TestScenario,
    User,
)
from fleet.scenarios.demo import AFTER_USE, MAKER_B, YEARLY
from fleet.settings import Settings
from fleet.software.installations import create_installation

Factory = async_sessionmaker[AsyncSession]

PASSWORD = "correct-horse"
TEST_ROUNDS = 4
TENANT = "DEFAULT"
FLEET_DATA_API = "/api/v1/fleet-data"
SOFTWARE_API = "/api/v1/fleet-software"
CONTACT = {"email": "ops@example.com"}
FLOWS = {"yearly": YEARLY, "after_use": AFTER_USE, "maker_b": MAKER_B}


# -- users and sign-in ------------------------------------------------------------------------


async def add_user(
    factory: Factory,
    username: str,
    role: str,
    roles: list[str] | None = None,
    *,
    password: str = PASSWORD,
    is_active: bool = True,
    qr_code: str | None = None,
    email: str | None = None,
) -> User:
    """Insert a user straight into the database."""
    all_roles = [role, *[r for r in (roles or []) if r != role]]
    async with factory() as session, session.begin():
        user = User(
            username=username,
            role=role,
            roles=all_roles,
            is_active=is_active,
            password_hash=hash_password_sync(password, TEST_ROUNDS),
            qr_code=qr_code,
            email=email,
        )
        session.add(user)
    return user


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> dict[str, Any]:
    """Log in with JSON and answer the token response."""
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def signed_in(
    client: httpx.AsyncClient, factory: Factory, username: str, role: str
) -> dict[str, str]:
    """A new user of ``role``, signed in: answers the auth headers."""
    await add_user(factory, username, role)
    return bearer(await login(client, username))


# -- customers and devices --------------------------------------------------------------------


async def add_customer(
    factory: Factory,
    *,
    name: str = "Fire Brigade",
    contact_info: Mapping[str, Any] | None = CONTACT,
) -> int:
    async with factory() as session, session.begin():
        customer = Customer(
            name=name, contact_info=dict(contact_info) if contact_info is not None else None
        )
        session.add(customer)
        await session.flush()
        return customer.id


async def add_devices(
    factory: Factory,
    count: int = 1,
    *,
    numbers: Sequence[str] | None = None,
    prefix: str = "D",
    device_type: str = "mask_tester",
    kind: str | None = None,
    serial: bool = False,
    status: str = "active",
    customer_id: int | None = None,
    configuration: dict[str, Any] | None = None,
) -> list[int]:
    """Insert devices: ``numbers``, or ``count`` of them numbered ``{prefix}-{device_type}-{i}``;
    ``serial`` gives each the serial number ``SN-{number}``. Answers their ids."""
    if numbers is None:
        numbers = [f"{prefix}-{device_type}-{i}" for i in range(count)]
    async with factory() as session, session.begin():
        devices = [
            Device(
                device_number=number,
                device_type=device_type,
                kind_of_device=kind,
                serial_number=f"SN-{number}" if serial else None,
                status=status,
                customer_id=customer_id,
                configuration=copy.deepcopy(configuration),
            )
            for number in numbers
        ]
        session.add_all(devices)
        await session.flush()
        return [d.id for d in devices]


async def add_device(
    factory: Factory,
    number: str,
    *,
    device_type: str = "mask_tester",
    kind: str | None = None,
    serial: bool = False,
    status: str = "active",
    customer_id: int | None = None,
    configuration: dict[str, Any] | None = None,
) -> int:
    """Insert one device (see ``add_devices``); answers its id."""
    [device_id] = await add_devices(
        factory,
        numbers=[number],
        device_type=device_type,
        kind=kind,
        serial=serial,
        status=status,
        customer_id=customer_id,
        configuration=configuration,
    )
    return device_id


async def create_customer(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **contact: Any
) -> dict[str, Any]:
    r = await client.post(
        f"{FLEET_DATA_API}/customers",
        headers=headers,
        json={"name": name, "contact_info": contact or None},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def create_device(
    client: httpx.AsyncClient, headers: dict[str, str], number: str, **fields: Any
) -> dict[str, Any]:
    payload = {"device_number": number, "device_type": "mask_tester", **fields}
    r = await client.post(f"{FLEET_DATA_API}/devices", headers=headers, json=payload)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


# -- the device API: tokens and DDI -----------------------------------------------------------


async def issue_token(
    client: httpx.AsyncClient, headers: dict[str, str], device_id: int, **body: Any
) -> str:
    r = await client.post(
        f"{FLEET_DATA_API}/devices/{device_id}/token", headers=headers, json=body or None
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def target(token: str) -> dict[str, str]:
    return {"Authorization": f"TargetToken {token}"}


def ddi(number: str, rest: str = "") -> str:
    return f"/{TENANT}/controller/v1/{number}{rest}"


async def add_ddi_device(
    client: httpx.AsyncClient, factory: Factory, issuer: dict[str, str], number: str
) -> tuple[int, dict[str, str]]:
    """A device with a token issued by ``issuer``: answers its id and its DDI headers."""
    device_id = await add_device(factory, number)
    return device_id, target(await issue_token(client, issuer, device_id))


# -- software, versions and installations -----------------------------------------------------


async def add_version(
    factory: Factory,
    settings: Settings,
    *,
    name: str = "tester-firmware",
    version: str = "1.0.0",
    content: bytes = b"firmware-image-" * 1000,
    software_id: int | None = None,
) -> SoftwareVersion:
    """A stable version with its artifact on disk (and its software, unless given)."""
    folder = settings.data_dir / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}.bin"
    path.write_bytes(content)
    async with factory() as session, session.begin():
        if software_id is None:
            software = Software(name=name, category="firmware", is_active=True)
            session.add(software)
            await session.flush()
            software_id = software.id
        row = SoftwareVersion(
            software_id=software_id,
            version_number=version,
            file_path=str(path),
            file_size=len(content),
            checksum=hashlib.sha256(content).hexdigest(),
            is_stable=True,
        )
        session.add(row)
    return row


def artifact_path(version: SoftwareVersion) -> Path:
    assert version.file_path
    return Path(version.file_path)


async def add_installation(
    factory: Factory,
    device_id: int,
    version_id: int,
    action: str = "install",
) -> SoftwareInstallation:
    async with factory() as session, session.begin():
        return await create_installation(
            session,
            device_id=device_id,
            version_id=version_id,
            action=action,
            initiated_by=None,
            ip=None,
        )


async def create_software(
    client: httpx.AsyncClient, headers: dict[str, str], name: str = "Tester FW", **extra: Any
) -> dict[str, Any]:
    body = {"name": name, "category": "firmware", "vendor": "Acme", "platform": "arm", **extra}
    r = await client.post(f"{SOFTWARE_API}/software", json=body, headers=headers)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    version_id: int,
    content: bytes = b"firmware-image",
    sha256: str | None = None,
) -> httpx.Response:
    data = {"sha256": sha256} if sha256 is not None else {}
    return await client.post(
        f"{SOFTWARE_API}/versions/{version_id}/artifact",
        files={"file": ("image.swu", content, "application/octet-stream")},
        data=data,
        headers=headers,
    )


async def create_version(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    software_id: int,
    number: str,
    *,
    artifact: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    body = {"version_number": number, **extra}
    r = await client.post(
        f"{SOFTWARE_API}/software/{software_id}/versions", json=body, headers=headers
    )
    assert r.status_code == 201, r.text
    version: dict[str, Any] = r.json()
    if artifact:
        content = f"image {number}".encode()
        r = await upload(client, headers, version["id"], content)
        assert r.status_code == 200, r.text
        version = r.json()
        assert version["checksum"] == hashlib.sha256(content).hexdigest()
    return version


async def install(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    device_id: int,
    version_id: int,
    action: str = "install",
) -> httpx.Response:
    return await client.post(
        f"{SOFTWARE_API}/installations",
        json={"device_id": device_id, "version_id": version_id, "action": action},
        headers=headers,
    )


async def move(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    installation_id: int,
    status: str,
    **extra: Any,
) -> httpx.Response:
    return await client.patch(
        f"{SOFTWARE_API}/installations/{installation_id}",
        json={"status": status, **extra},
        headers=headers,
    )


async def finish(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    installation_id: int,
    status: str = "completed",
) -> None:
    r = await move(client, headers, installation_id, "in_progress")
    assert r.status_code == 200, r.text
    extra = {"error_message": "flash write error"} if status == "failed" else {}
    r = await move(client, headers, installation_id, status, **extra)
    assert r.status_code == 200, r.text


# -- scenarios, reports and templates ---------------------------------------------------------


def flow(name: str = "yearly") -> dict[str, Any]:
    return copy.deepcopy(FLOWS[name])


async def create_scenario(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str = "Yearly",
    test_flow: dict[str, Any] | None = None,
    device_type: str | None = "mask_tester",
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/scenarios",
        headers=headers,
        json={
            "name": name,
            "description": "d",
            "device_type": device_type,
            "test_flow": test_flow if test_flow is not None else flow(),
        },
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def yearly_test_setup(
    client: httpx.AsyncClient, factory: Factory, role_headers: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """What running a test needs: a customer, the yearly scenario (named "Yearly mask"), the
    customer's full-face mask "FFM-1", and the auth headers by role ("h"; "op" and "mgr")."""
    customer = await add_customer(factory)
    scenario = await create_scenario(client, role_headers["superuser"], "Yearly mask")
    device = await add_device(
        factory, "FFM-1", kind="full_face_mask", serial=True, customer_id=customer
    )
    return {
        "customer": customer,
        "scenario": scenario,
        "device": device,
        "h": role_headers,
        "op": role_headers["operator"],
        "mgr": role_headers["manager"],
    }


async def add_template(
    factory: async_sessionmaker[AsyncSession],
    category: str,
    schema: dict[str, Any],
    defaults: dict[str, Any],
) -> None:
    async with factory() as session, session.begin():
        session.add(
            JsonTemplate(
                name=f"{category} config",
                template_type="device_config",
                category=category,
                schema_=schema,
                default_values=defaults,
                is_active=True,
            )
        )


async def add_report(
    factory: async_sessionmaker[AsyncSession],
    device_id: int,
    at: datetime,
    verdict: str = "passed",
    *,
    scenario: str = "Yearly mask test",
    operator: str | None = None,
    due: datetime | None = None,
) -> int:
    """Insert a completed test report (and the due-date row it leads to) straight into the db."""
    async with factory() as session, session.begin():
        scenario_row = await session.scalar(
            select(TestScenario).where(TestScenario.name == scenario)
        )
        if scenario_row is None:
            scenario_row = TestScenario(name=scenario, device_type="mask_tester")
            session.add(scenario_row)
            await session.flush()
        operator_id = None
        if operator:
            operator_id = await session.scalar(select(User.id).where(User.username == operator))
        report = TestReport(
            test_scenario_id=scenario_row.id,
            device_id=device_id,
            operator_id=operator_id,
            start_time=at,
            end_time=at,
            status="completed" if verdict != "failed" else "failed",
            results={"verdict": verdict, "steps": []},
        )
        session.add(report)
        await session.flush()
        if due is not None:
            existing = await session.get(DeviceDueDate, device_id)
            if existing is None:
                session.add(
                    DeviceDueDate(
                        device_id=device_id,
                        last_test_at=at,
                        next_due_at=due,
                        report_id=report.id,
                        interval_months=12,
                    )
                )
            else:
                existing.last_test_at, existing.next_due_at = at, due
        return report.id
