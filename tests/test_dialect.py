"""The differences between PostgreSQL and SQLite live in ``fleet.dialect`` alone."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from fleet import dialect
from fleet.models import CacheGeneration

SRC = Path(__file__).resolve().parents[1] / "src" / "fleet"
# settings.py maps the configured URL to its drivers; migrations are frozen history.
OWNERS = {"dialect.py", "settings.py"}
_CHECK = re.compile(
    r"dialect\.name\b|[\"'](postgresql|sqlite)[\"']|dialects\.(postgresql|sqlite)|drivername"
    r"|get_backend_name"
)


def test_no_module_but_the_dialect_module_compares_databases() -> None:
    found = [
        f"{p.relative_to(SRC)}:{n}: {line.strip()}"
        for p in sorted(SRC.rglob("*.py"))
        if "migrations" not in p.parts and p.name not in OWNERS
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if _CHECK.search(line)
    ]
    assert found == []


def test_the_dialect_is_named_from_any_bind() -> None:
    engine = create_engine("sqlite://")
    try:
        assert dialect.name_of(engine) == "sqlite"
        assert dialect.is_sqlite(engine.dialect)
        assert not dialect.is_postgres("sqlite")
        with engine.connect() as conn:
            assert dialect.is_sqlite(conn)
    finally:
        engine.dispose()
    assert dialect.url_is_postgres(make_url("postgresql+asyncpg://u@h/db"))
    assert dialect.url_is_sqlite(make_url("sqlite+aiosqlite:///x.db"))
    assert dialect.libpq_url(make_url("postgresql+psycopg://u@h/db")).drivername == "postgresql"


def test_the_upsert_is_built_for_each_database() -> None:
    for name, target in (("postgresql", postgresql.dialect()), ("sqlite", sqlite.dialect())):
        stmt = dialect.insert(name, CacheGeneration).values(name="x", value=1)
        stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": 2})
        sql = str(stmt.compile(dialect=target))
        assert "ON CONFLICT (name) DO UPDATE" in sql


def test_only_postgresql_needs_its_sequences_moved_and_a_snapshot_level() -> None:
    assert dialect.snapshot_isolation("postgresql") == "REPEATABLE READ"
    assert dialect.snapshot_isolation("sqlite") is None
    sql = str(dialect.reset_sequence("translations", "id"))
    assert 'MAX("id") FROM "translations"' in sql
