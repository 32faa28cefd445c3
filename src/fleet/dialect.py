"""Every difference between PostgreSQL and SQLite that the application's SQL has to know about.

The rest of the code asks this module instead of comparing dialect names itself:

- which database a session, connection, engine or URL talks to (``is_postgres``, ``is_sqlite``,
  ``name_of``, ``url_is_postgres``, ``url_is_sqlite``);
- column types that differ (``JSONType``, ``json_type``, ``BigId``) and partial indexes
  (``partial_index``);
- the upsert (``insert``: an INSERT that takes ``on_conflict_do_nothing``/``_do_update``);
- locking: PostgreSQL locks rows (``SELECT ... FOR UPDATE``), SQLite only the whole database
  (``sqlite_write_lock``, used by ``fleet.db.lock_row``), and the connection pragmas SQLite needs
  (``install_sqlite_pragmas``);
- what only PostgreSQL does: snapshot isolation for a dump (``snapshot_isolation``), byte-order
  sorting of text (``byte_order``), sequences to move after explicit ids (``reset_sequence``).

Features that exist on PostgreSQL alone (LISTEN/NOTIFY, COPY, relaxed ``synchronous_commit``)
stay beside their use, behind an ``is_postgres`` check. Alembic migrations keep their own
checks: a migration is frozen history and must not change when this module does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ColumnElement, Integer, event, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TypeEngine

POSTGRESQL = "postgresql"
SQLITE = "sqlite"


# ------------------------------------------------------------------ which database


def name_of(bind: Any) -> str:
    """The dialect name (``"postgresql"`` or ``"sqlite"``) of a session (sync or async), a
    connection, an engine, a dialect, or a name given as is."""
    if isinstance(bind, str):
        return bind
    if isinstance(bind, Session | AsyncSession):
        bind = bind.bind or bind.get_bind()
    name: str = getattr(bind, "dialect", bind).name
    return name


def is_postgres(bind: Any) -> bool:
    """True when ``bind`` (see ``name_of``) talks to PostgreSQL."""
    return name_of(bind) == POSTGRESQL


def is_sqlite(bind: Any) -> bool:
    """True when ``bind`` (see ``name_of``) talks to SQLite."""
    return name_of(bind) == SQLITE


def url_is_postgres(url: URL) -> bool:
    """True for a PostgreSQL database URL, whatever its driver."""
    return url.get_backend_name() == POSTGRESQL


def url_is_sqlite(url: URL) -> bool:
    """True for a SQLite database URL, whatever its driver."""
    return url.get_backend_name() == SQLITE


def libpq_url(url: URL) -> URL:
    """A PostgreSQL URL without a driver name, as libpq (psycopg's own connect) reads it."""
    return url.set(drivername=POSTGRESQL)


# ------------------------------------------------------------------ types and indexes


def json_type(*, none_as_null: bool = False) -> TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL."""
    return JSON(none_as_null=none_as_null).with_variant(
        JSONB(none_as_null=none_as_null), POSTGRESQL
    )


JSONType = json_type()
# A 64-bit id on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the auto-incremented rowid.
BigId = BigInteger().with_variant(Integer(), SQLITE)


def partial_index(where: str) -> dict[str, Any]:
    """The keyword arguments of an ``Index`` that covers only the rows matching ``where``."""
    return {f"{SQLITE}_where": text(where), f"{POSTGRESQL}_where": text(where)}


# ------------------------------------------------------------------ statements


def insert(bind: Any, table: Any) -> Any:
    """An INSERT into ``table`` in the dialect of ``bind`` (see ``name_of``), which takes
    ``on_conflict_do_nothing`` and ``on_conflict_do_update`` (the same arguments on both)."""
    return (pg_insert if is_postgres(bind) else sqlite_insert)(table)


def byte_order(column: Any, bind: Any) -> ColumnElement[Any]:
    """``column`` for ORDER BY in byte order (SQLite's own; PostgreSQL's "C" collation)."""
    return column.collate("C") if is_postgres(bind) else column


def snapshot_isolation(bind: Any) -> str | None:
    """The isolation level for reading a consistent snapshot over many statements, or None
    when the default already gives one (SQLite: a read transaction sees one snapshot)."""
    return "REPEATABLE READ" if is_postgres(bind) else None


def reset_sequence(table: str, column: str) -> TextClause:
    """PostgreSQL: move ``table.column``'s sequence past the highest id (after explicit ids were
    written). SQLite needs nothing: its next id follows the highest one by itself."""
    return text(
        "SELECT setval(pg_get_serial_sequence(:t, :c), "  # noqa: S608 - names from metadata
        f'COALESCE((SELECT MAX("{column}") FROM "{table}"), 1), '
        f'(SELECT MAX("{column}") FROM "{table}") IS NOT NULL) '
        "WHERE pg_get_serial_sequence(:t, :c) IS NOT NULL"
    ).bindparams(t=table, c=column)


# ------------------------------------------------------------------ locking and connections


async def sqlite_write_lock(session: AsyncSession, pk: Any, where: Any) -> None:
    """On SQLite, take the database's write lock with a no-op UPDATE of the table whose primary
    key column is ``pk`` (a write begins the transaction and holds the lock until it ends, even
    when it matches no row); on PostgreSQL nothing (the caller's ``FOR UPDATE`` locks rows)."""
    conn = await session.connection()
    if not is_sqlite(conn):
        return
    table = pk.table
    # Columns with an ``onupdate`` are set to themselves too, so nothing changes.
    same = {c: c for c in table.c if c is pk or c.onupdate is not None}
    await session.execute(update(table).where(where).values(same))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def install_sqlite_pragmas(sync_engine: Any) -> None:
    """Turn on foreign keys and sensible locking for every SQLite connection."""
    if is_sqlite(sync_engine):
        event.listen(sync_engine, "connect", _sqlite_pragmas)
