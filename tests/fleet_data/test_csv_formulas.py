"""CSV export neutralises spreadsheet formulas; our import restores the values exactly, so
export -> import -> export is byte-identical."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from sqlalchemy import delete, select

from fleet import csvsafe
from fleet.models import Customer, Device
from tests.fleet_data.conftest import API

# (A leading tab or CR cannot be stored through the API or the import, which strip text
# fields; those two are covered by the unit test below.)
NASTY = [
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-5",
    "@SUM(A1:A2)",
    "'=already quoted",
    "''+two quotes",
    "'plain apostrophe",
    "plain = not first",
]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-5", "'-5"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=x", "''=x"),
        ("'abc", "'abc"),
        ("abc", "abc"),
        ("", ""),
    ],
)
def test_neutralise_and_restore_are_inverse(value: str, written: str) -> None:
    assert csvsafe.neutralise(value) == written
    assert csvsafe.restore(written) == value
    assert csvsafe.cell(-5) == -5  # numbers stay numbers


async def _export(client: httpx.AsyncClient, headers: dict[str, str], entity: str) -> str:
    r = await client.get(
        f"{API}/export", headers=headers, params={"entity": entity, "format": "csv"}
    )
    assert r.status_code == 200, r.text
    return r.text


async def _import(
    client: httpx.AsyncClient, headers: dict[str, str], entity: str, text: str
) -> httpx.Response:
    return await client.post(
        f"{API}/import",
        headers=headers,
        params={"entity": entity, "dry_run": "false"},
        files={"file": ("data.csv", text.encode(), "text/csv")},
    )


async def test_formula_round_trip(client: httpx.AsyncClient, manager, sessionmaker) -> None:
    async with sessionmaker() as s, s.begin():
        for i, value in enumerate(NASTY):
            customer = Customer(name=f"{value} #{i}", contact_info={"note": value})
            s.add(customer)
            await s.flush()
            s.add(
                Device(
                    device_number=f"D-{i}",
                    device_type="mask_tester",
                    kind_of_device=value,
                    serial_number=value,
                    customer_id=customer.id,
                )
            )
    customers = await _export(client, manager, "customers")
    devices = await _export(client, manager, "devices")
    rows = list(csv.DictReader(io.StringIO(devices, newline="")))
    for row, value in zip(rows, NASTY, strict=True):
        if value[:1] in csvsafe.FORMULA_STARTS or value.startswith(("'=", "''")):
            assert row["serial_number"] == "'" + value
            assert row["kind_of_device"] == "'" + value
            assert row["customer"].startswith("'")
        else:
            assert row["serial_number"] == value
    # no exported cell starts with a formula character any more
    for line in csv.reader(io.StringIO(customers + devices, newline="")):
        assert all(cell[:1] not in csvsafe.FORMULA_STARTS for cell in line)

    async with sessionmaker() as s, s.begin():
        await s.execute(delete(Device))
        await s.execute(delete(Customer))
    r = await _import(client, manager, "customers", customers)
    assert r.status_code == 200 and r.json()["created"] == len(NASTY), r.text
    r = await _import(client, manager, "devices", devices)
    assert r.status_code == 200 and r.json()["created"] == len(NASTY), r.text
    async with sessionmaker() as s:
        stored = (await s.scalars(select(Device.serial_number).order_by(Device.id))).all()
        names = (await s.scalars(select(Customer.name).order_by(Customer.id))).all()
    assert list(stored) == NASTY  # the original values, not the quoted ones
    assert list(names) == [f"{v} #{i}" for i, v in enumerate(NASTY)]
    assert await _export(client, manager, "customers") == customers
    assert await _export(client, manager, "devices") == devices
    # importing the same file again changes nothing: every value compares equal
    r = await _import(client, manager, "devices", devices)
    assert r.json()["unchanged"] == len(NASTY) and r.json()["created"] == 0
