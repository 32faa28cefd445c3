"""The migrated schema matches the customer's database document on every backend."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text, create_engine, inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import SEED_TABLES, Customer, Device, Software, SoftwareVersion
from fleet.settings import Settings, sync_database_url
from tests.seed_schema import SEED_SCHEMA

# From the document's relationship diagram: (table, column) -> referenced table.
FOREIGN_KEYS = {
    ("devices", "customer_id"): "customers",
    ("software", "created_by"): "users",
    ("software_versions", "software_id"): "software",
    ("software_versions", "created_by"): "users",
    ("software_installations", "device_id"): "devices",
    ("software_installations", "version_id"): "software_versions",
    ("software_installations", "initiated_by"): "users",
    ("device_software", "device_id"): "devices",
    ("device_software", "software_id"): "software",
    ("device_software", "version_id"): "software_versions",
    ("configurations", "updated_by"): "users",
    ("json_templates", "created_by"): "users",
    ("test_scenarios", "created_by"): "users",
    ("test_steps", "scenario_id"): "test_scenarios",
    ("test_reports", "test_scenario_id"): "test_scenarios",
    ("test_reports", "device_id"): "devices",
    ("test_reports", "operator_id"): "users",
    ("test_reports", "customer_id"): "customers",
    ("system_logs", "user_id"): "users",
}

FILTER_INDEXES = [
    ("devices", "status"),
    ("devices", "device_type"),
    ("test_reports", "start_time"),
    ("system_logs", "timestamp"),
    ("software_installations", "status"),
]


@pytest.fixture
def inspected(settings: Settings) -> Any:
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    yield inspect(engine), engine.dialect.name
    engine.dispose()


def _check_type(table: str, col: str, declared: str, actual: Any, dialect: str) -> None:
    where = f"{table}.{col}"
    if declared == "INTEGER":
        assert isinstance(actual, Integer), where
    elif m := re.fullmatch(r"VARCHAR\((\d+)\)", declared):
        assert isinstance(actual, String) and not isinstance(actual, Text), where
        assert actual.length == int(m.group(1)), f"{where}: length {actual.length}"
    elif declared == "TEXT":
        assert isinstance(actual, Text), where
    elif declared == "BOOLEAN":
        assert isinstance(actual, Boolean), where
    elif declared == "TIMESTAMP":
        assert isinstance(actual, DateTime), where
        if dialect == "postgresql":
            assert actual.timezone, f"{where} must be timezone-aware"
    elif declared == "JSON":
        expected = JSONB if dialect == "postgresql" else JSON
        assert isinstance(actual, expected), f"{where}: {actual!r}"
    else:
        raise AssertionError(f"unknown declared type {declared} for {where}")


def _unique_columns(insp: Any, table: str) -> set[str]:
    out = {
        c["column_names"][0]
        for c in insp.get_unique_constraints(table)
        if len(c["column_names"]) == 1
    }
    out |= {
        i["column_names"][0]
        for i in insp.get_indexes(table)
        if i["unique"]
        and len(i["column_names"]) == 1
        # a partial unique index (one running test per device) is a rule, not column UNIQUE
        and not any(key.endswith("_where") for key in i.get("dialect_options", {}))
    }
    return out


def _default_matches(expected: str, server_default: str | None) -> bool:
    if server_default is None:
        return False
    raw = server_default.lower()
    value = raw.strip("()'\" ")
    if expected == "TRUE":
        return value in ("true", "1")
    if expected == "FALSE":
        return value in ("false", "0")
    if expected == "NOW()":
        return "now()" in raw or "current_timestamp" in raw
    return value.startswith(expected.strip("'").lower())


def test_seed_tables_are_exactly_the_document(inspected: Any) -> None:
    insp, dialect = inspected
    assert set(SEED_TABLES) == set(SEED_SCHEMA)
    present = set(insp.get_table_names())
    for table, columns in SEED_SCHEMA.items():
        assert table in present, f"missing table {table}"
        actual = {c["name"]: c for c in insp.get_columns(table)}
        assert [c[0] for c in columns] == list(actual), f"{table}: columns differ"
        uniques = _unique_columns(insp, table)
        pk = set(insp.get_pk_constraint(table)["constrained_columns"])
        fks = {fk["constrained_columns"][0]: fk for fk in insp.get_foreign_keys(table)}
        for name, declared, constraints in columns:
            col = actual[name]
            _check_type(table, name, declared, col["type"], dialect)
            required = "PRIMARY KEY" in constraints or "NOT NULL" in constraints
            assert col["nullable"] is (not required), f"{table}.{name} nullable"
            if "PRIMARY KEY" in constraints:
                assert pk == {name}
            assert ("UNIQUE" in constraints) is (name in uniques), f"{table}.{name} unique"
            if m := re.search(r"DEFAULT (\S+)", constraints):
                assert _default_matches(m.group(1), col["default"]), (
                    f"{table}.{name} default {col['default']!r}, document says {m.group(1)}"
                )
            if "FOREIGN KEY" in constraints:
                assert name in fks, f"{table}.{name} has no foreign key"
                assert fks[name]["referred_table"] == FOREIGN_KEYS[(table, name)]
            else:
                assert name not in fks, f"{table}.{name} has an undocumented foreign key"


def test_software_versions_cascade_and_foreign_keys_indexed(inspected: Any) -> None:
    insp, _ = inspected
    fk = next(
        f
        for f in insp.get_foreign_keys("software_versions")
        if f["constrained_columns"] == ["software_id"]
    )
    assert (fk.get("options") or {}).get("ondelete", "").upper() == "CASCADE"
    for table, column in [*FOREIGN_KEYS, *FILTER_INDEXES]:
        indexed = {i["column_names"][0] for i in insp.get_indexes(table)}
        assert column in indexed, f"{table}.{column} is not indexed"


async def test_updated_at_moves_and_cascade_deletes_versions(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session, session.begin():
        customer = Customer(name="ACME")
        device = Device(device_number="D-1", device_type="mask_tester")
        software = Software(name="fw", versions=[SoftwareVersion(version_number="1.0.0")])
        session.add_all([customer, device, software])
    first = device.updated_at
    assert first is not None and first.tzinfo is not None
    assert device.status == "active"
    await asyncio.sleep(0.01)
    async with sessionmaker() as session, session.begin():
        loaded = await session.get(Device, device.id)
        assert loaded is not None
        loaded.status = "maintenance"
    async with sessionmaker() as session:
        again = await session.get(Device, device.id)
        assert again is not None and again.updated_at is not None
        assert again.updated_at > first
        assert again.updated_at.tzinfo is not None
    async with sessionmaker() as session, session.begin():
        sw = await session.get(Software, software.id)
        await session.delete(sw)
    async with sessionmaker() as session:
        assert await session.get(SoftwareVersion, software.versions[0].id) is None
