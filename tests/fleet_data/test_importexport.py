"""Export (CSV, JSON, streamed) and import (dry run, per-row errors, all or nothing, upsert)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
from sqlalchemy import delete, func, select

from fleet.models import Customer, Device, SystemLog
from tests.factories import add_template, create_customer, create_device
from tests.fleet_data.conftest import API


async def _export(client: httpx.AsyncClient, headers: dict[str, str], entity: str, fmt: str) -> str:
    r = await client.get(f"{API}/export", headers=headers, params={"entity": entity, "format": fmt})
    assert r.status_code == 200, r.text
    assert f"{entity}-" in r.headers["content-disposition"]
    return r.text


async def _import(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    entity: str,
    content: bytes | str,
    *,
    filename: str = "data.csv",
    dry_run: bool = False,
) -> httpx.Response:
    if isinstance(content, str):
        content = content.encode()
    return await client.post(
        f"{API}/import",
        headers=headers,
        params={"entity": entity, "dry_run": str(dry_run).lower()},
        files={"file": (filename, content, "application/octet-stream")},
    )


async def _fleet(client: httpx.AsyncClient, manager: dict[str, str]) -> None:
    acme = await create_customer(
        client,
        manager,
        'Acme, "Rescue"',
        email="a@acme.example",
        notes="line one\nline two; zażółć",
        extra={"tags": ["vip", 1]},
    )
    await create_customer(client, manager, "Bravo")
    await create_device(
        client,
        manager,
        "MT-1",
        customer_id=acme["id"],
        serial_number="S1",
        kind_of_device="bench",
        configuration={"port": "COM3", "limits": [1, 2.5]},
    )
    await create_device(client, manager, "FM-2", device_type="flow_meter", status="maintenance")


async def _wipe(sessionmaker) -> None:
    async with sessionmaker() as s, s.begin():
        await s.execute(delete(Device))
        await s.execute(delete(Customer))


async def test_round_trip_csv_and_json(client: httpx.AsyncClient, manager, sessionmaker) -> None:
    await _fleet(client, manager)
    for fmt in ("csv", "json"):
        customers = await _export(client, manager, "customers", fmt)
        devices = await _export(client, manager, "devices", fmt)
        await _wipe(sessionmaker)
        r = await _import(client, manager, "customers", customers, filename=f"c.{fmt}")
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 2 and r.json()["applied"] is True
        r = await _import(client, manager, "devices", devices, filename=f"d.{fmt}")
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 2
        assert await _export(client, manager, "customers", fmt) == customers
        assert await _export(client, manager, "devices", fmt) == devices
    rows = list(csv.DictReader(io.StringIO(await _export(client, manager, "devices", "csv"))))
    assert rows[0]["customer"] == 'Acme, "Rescue"'
    assert json.loads(rows[0]["configuration"]) == {"port": "COM3", "limits": [1, 2.5]}
    data = json.loads(await _export(client, manager, "customers", "json"))
    assert data[0]["contact_info"]["notes"] == "line one\nline two; zażółć"
    r = await client.get(f"{API}/devices", headers=manager, params={"q": "MT-1"})
    history = await client.get(f"{API}/devices/{r.json()[0]['id']}/history", headers=manager)
    assert history.json()["entries"][0]["title"] == "device.import"
    async with sessionmaker() as s:
        actions = set(await s.scalars(select(SystemLog.action)))
    assert {"customer.import", "device.import", "device.export", "customer.export"} <= actions


async def test_dry_run_and_all_or_nothing(client: httpx.AsyncClient, manager, sessionmaker) -> None:
    await create_customer(client, manager, "Acme")
    await create_device(client, manager, "EXISTING", serial_number="old")
    await add_template(
        sessionmaker,
        "pressure_sensor",
        {"type": "object", "properties": {"range": {"type": "integer"}}},
        {},
    )
    body = (
        "device_number,device_type,status,customer,serial_number,configuration\n"
        "NEW-1,mask_tester,active,acme,,\n"
        "EXISTING,mask_tester,,,new,\n"
        "BAD-1,mask_tester,broken,,,\n"
        "BAD-2,mask_tester,,Nobody,,\n"
        "NEW-1,mask_tester,,,,\n"
        'BAD-3,pressure_sensor,,,,"{""range"": ""high""}"\n'
        "BAD-4,mask_tester,,,,{not json\n"
        ",mask_tester,,,,\n"
        "BAD-5,mask_tester,,,\n"
    )
    r = await _import(client, manager, "devices", body, dry_run=True)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["applied"] is False and report["rows"] == 9
    assert report["created"] == 1 and report["updated"] == 1
    errors = {(e["row"], e["field"]) for e in report["errors"]}
    assert errors == {
        (3, "status"),
        (4, "customer"),
        (5, "device_number"),
        (6, "configuration/range"),
        (7, "configuration"),
        (8, "device_number"),
        (9, None),
    }, report["errors"]
    r = await _import(client, manager, "devices", body)
    assert r.status_code == 422
    assert "nothing was imported" in r.json()["detail"]["message"]
    assert len(r.json()["detail"]["errors"]) == 7
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Device)) == 1
        assert await s.scalar(select(Device.serial_number)) == "old"
    good = "\n".join(body.splitlines()[:3]) + "\n"
    r = await _import(client, manager, "devices", good)
    assert r.status_code == 200 and r.json()["applied"] is True
    r = await _import(client, manager, "devices", good)
    assert r.json()["unchanged"] == 2 and r.json()["created"] == 0
    r = await client.get(f"{API}/devices", headers=manager, params={"q": "NEW-1"})
    assert r.json()[0]["customer_name"] == "Acme"


async def test_bad_files_are_refused(client: httpx.AsyncClient, manager, sessionmaker) -> None:
    cases: list[tuple[str, Any, str, int, str]] = [
        (
            "devices",
            "device_number,status\nX,active\n",
            "d.csv",
            400,
            "missing column(s): device_type",
        ),
        (
            "devices",
            "device_number,device_type,colour\nX,mask_tester,red\n",
            "d.csv",
            400,
            "unknown column(s): colour",
        ),
        ("customers", "name,name\nA,B\n", "c.csv", 400, "duplicated"),
        ("customers", 'name\n"unterminated\n', "c.csv", 400, "Invalid CSV"),
        ("customers", "name\nZa\xbf\n".encode("latin-1"), "c.csv", 400, "not UTF-8"),
        ("customers", "", "c.csv", 400, "empty"),
        ("customers", '{"name": "A"}', "c.json", 400, "array"),
        ("customers", "[1, 2", "c.json", 400, "Invalid JSON"),
        ("customers", "name\nA\n", "c.txt", 400, "format"),
        ("customers", b"x" * (50 * 1024 * 1024), "c.csv", 413, "larger"),
    ]
    for entity, content, name, status, message in cases:
        r = await _import(client, manager, entity, content, filename=name)
        assert r.status_code == status, (name, r.text[:200])
        assert message in str(r.json()["detail"]), r.json()
    r = await _import(
        client, manager, "customers", '[{"name": "A", "x": 1}, 5]', filename="c.json", dry_run=True
    )
    assert {(e["row"], e["field"]) for e in r.json()["errors"]} == {(1, "x"), (2, None)}
    for params in ({"entity": "users"}, {"entity": "devices", "dry_run": "perhaps"}):
        r = await client.post(
            f"{API}/import",
            headers=manager,
            params=params,
            files={"file": ("a.csv", b"name\n", "text/csv")},
        )
        assert r.status_code == 422
    r = await client.post(f"{API}/import", headers=manager, params={"entity": "devices"})
    assert r.status_code == 422
    for params in ({"entity": "users"}, {"entity": "devices", "format": "xml"}, {}):
        r = await client.get(f"{API}/export", headers=manager, params=params)
        assert r.status_code == 422
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Customer)) == 0


async def test_customer_import_upsert_by_name(client: httpx.AsyncClient, manager) -> None:
    await create_customer(client, manager, "Acme", email="old@acme.example")
    body = json.dumps(
        [
            {"name": "ACME", "contact_info": {"email": "new@acme.example"}},
            {"name": "Zulu"},
            {"name": "zulu"},
            {"name": "Bad", "contact_info": {"email": "nope"}},
            {"name": "Late", "created_at": "not a date"},
        ]
    )
    r = await _import(client, manager, "customers", body, filename="c.json", dry_run=True)
    assert {(e["row"], e["field"]) for e in r.json()["errors"]} == {
        (3, "name"),
        (4, "contact_info"),
        (5, "created_at"),
    }
    good = json.dumps(
        [
            {"name": "ACME", "contact_info": {"email": "new@acme.example"}},
            {"name": "Zulu", "created_at": "2020-01-02T03:04:05+00:00"},
        ]
    )
    r = await _import(client, manager, "customers", good, filename="c.json")
    assert (r.json()["created"], r.json()["updated"]) == (1, 1)
    r = await client.get(f"{API}/customers", headers=manager)
    assert [(c["name"], (c["contact_info"] or {}).get("email")) for c in r.json()] == [
        ("ACME", "new@acme.example"),
        ("Zulu", None),
    ]
    assert r.json()[1]["created_at"].startswith("2020-01-02T03:04:05")


async def test_deeply_nested_json_is_refused(client: httpx.AsyncClient, manager) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    r = await _import(client, manager, "customers", deep, filename="c.json")
    assert r.status_code == 400
    cell = '"{""a"": ' + "[" * 30_000 + "]" * 30_000 + '}"'
    r = await _import(client, manager, "customers", f"name,contact_info\nA,{cell}\n", dry_run=True)
    assert r.status_code == 200
    assert r.json()["errors"][0]["field"] == "contact_info"
