"""Engines, sessions and row locks (the declarative base and column types: fleet.models.base)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

from sqlalchemy import Select, event, false, select, update
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

# utcnow, JSONType and UTCDateTime are still offered here: many modules take them from fleet.db.
from fleet.clock import utcnow as utcnow
from fleet.models.base import Base
from fleet.models.base import JSONType as JSONType
from fleet.models.base import UTCDateTime as UTCDateTime
from fleet.settings import Settings, async_database_url
from fleet.validation import (
    INT64_MAX,
    INT64_MIN,
    PoisonValue,
    check_json_field,
    dumps_strict,
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def json_serializer(value: Any) -> str:
    """Serialise a JSON column's value under the input policy (the last line of defence:
    whatever path a value took, a poisoned one is never written)."""
    check_json_field(value)
    return dumps_strict(value)


def _check_parameter(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise PoisonValue("text must not contain the NUL character")
    elif isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            raise PoisonValue("integer outside the 64-bit range")


def _guard_parameters(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool
) -> None:
    """Refuse NUL in text and integers no column can hold, in every statement sent."""
    items = parameters.values() if isinstance(parameters, dict) else parameters or ()
    for item in items:
        if isinstance(item, dict):
            for value in item.values():
                _check_parameter(value)
        elif isinstance(item, tuple | list):
            for value in item:
                _check_parameter(value)
        else:
            _check_parameter(item)


def install_guards(sync_engine: Any) -> None:
    """Check every statement's parameters against the input policy."""
    event.listen(sync_engine, "before_cursor_execute", _guard_parameters)


def create_sync_engine(settings: Settings) -> Any:
    """A synchronous engine for the CLI and backups, under the same write policy."""
    from sqlalchemy import create_engine as create_sync

    from fleet.settings import sync_database_url

    engine = create_sync(
        sync_database_url(settings.resolved_database_url()), json_serializer=json_serializer
    )
    install_sqlite_pragmas(engine)
    install_guards(engine)
    return engine


def install_sqlite_pragmas(sync_engine: Any) -> None:
    """Turn on foreign keys and sensible locking for every SQLite connection."""
    if sync_engine.dialect.name == "sqlite":
        event.listen(sync_engine, "connect", _sqlite_pragmas)


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the async engine for the configured database."""
    url = async_database_url(settings.resolved_database_url())
    if url.drivername.startswith("sqlite"):
        if url.database and url.database != ":memory:":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        # A pooled connection saves aiosqlite's thread start and the pragmas on every request;
        # an in-memory database must not be pooled (each connection would be a new database).
        pool = {"poolclass": NullPool} if url.database in (None, "", ":memory:") else {}
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, json_serializer=json_serializer, **pool
        )
    else:
        # Keep enough connections open for the usual concurrency: a connection opened and
        # closed per request burst costs more CPU than the request's own queries.
        from fleet.overload import POOL_WAIT_SECONDS

        engine = create_async_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=POOL_WAIT_SECONDS,
            pool_recycle=1800,
            json_serializer=json_serializer,
        )
    install_sqlite_pragmas(engine.sync_engine)
    install_guards(engine.sync_engine)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Create the session factory; objects stay usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Yield a session that commits once at the end, or rolls everything back on error."""
    from fleet.memo import announced

    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
            # Changes that drop remembered reads (logins, totals) reach every worker before
            # the answer.
            await announced(session.info)



_Row = TypeVar("_Row", bound=Base)


async def lock_row(session: AsyncSession, entity: type[_Row], key: Any) -> _Row | None:
    """Load one row to change it, locked until the transaction ends; None when it is missing.

    Every read-modify-write of a row (a JSON document rewritten whole, above all) goes through
    here, so no writer rewrites a snapshot another writer has changed since. PostgreSQL takes
    the row lock (``SELECT ... FOR UPDATE``). SQLite has no row locks: a no-op UPDATE of the
    row first takes the database's write lock, which every other writer then waits for, and
    the row is read after it, inside the same transaction. The object is refreshed from the
    database even when the session already holds it. Lock order: take this lock before any
    other write of the transaction.
    """
    (pk,) = entity.__mapper__.primary_key
    await _sqlite_write_lock(session, entity, pk == key)
    stmt = (
        select(entity).where(pk == key).with_for_update().execution_options(populate_existing=True)
    )
    row: _Row | None = await session.scalar(stmt)
    return row


async def lock_rows(session: AsyncSession, entity: type[_Row], stmt: Select[Any]) -> list[_Row]:
    """Load the rows of ``stmt`` (a select of ``entity``) to change them, locked as
    ``lock_row`` locks one row."""
    await _sqlite_write_lock(session, entity, false())
    result = await session.scalars(stmt.with_for_update().execution_options(populate_existing=True))
    return list(result.all())


async def _sqlite_write_lock(session: AsyncSession, entity: type[Base], where: Any) -> None:
    """On SQLite, take the database's write lock with a no-op UPDATE (a write begins the
    transaction and holds the lock until it ends, even when it matches no row)."""
    conn = await session.connection()
    if conn.dialect.name != "sqlite":
        return
    (pk,) = entity.__mapper__.primary_key
    table = pk.table
    # Columns with an ``onupdate`` are set to themselves too, so nothing changes.
    same = {c: c for c in table.c if c is pk or c.onupdate is not None}
    await session.execute(update(table).where(where).values(same))


def read_only_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, its statements run outside a transaction (no BEGIN/COMMIT).

    For requests that only read: each statement sees the data committed when it starts, as in
    a READ COMMITTED transaction, and no round trip is spent opening and closing one.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")
