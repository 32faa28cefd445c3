"""Engines, sessions and row locks (the declarative base and column types: fleet.models.base)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Integer, Select, SmallInteger, event, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from fleet import dialect as sql_dialect

# utcnow, JSONType and UTCDateTime are still offered here: many modules take them from fleet.db.
from fleet.clock import utcnow as utcnow
from fleet.dialect import install_sqlite_pragmas as install_sqlite_pragmas
from fleet.errors import Conflict
from fleet.models.base import Base
from fleet.models.base import JSONType as JSONType
from fleet.models.base import UTCDateTime as UTCDateTime
from fleet.settings import Settings, async_database_url
from fleet.validation import (
    INT16_MAX,
    INT16_MIN,
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    PoisonValue,
    check_json_field,
    dumps_strict,
)


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


# The range of each integer column type, the same on every database: SQLite would store any
# 64-bit integer in an INTEGER column, PostgreSQL refuses what its type cannot hold.
_INTEGER_RANGES: tuple[tuple[type[Integer], int, int], ...] = (
    (SmallInteger, INT16_MIN, INT16_MAX),
    (BigInteger, INT64_MIN, INT64_MAX),
    (Integer, INT32_MIN, INT32_MAX),
)


def integer_range(type_: Any) -> tuple[int, int] | None:
    """The values an integer column type holds (``None`` for any other type). A variant for one
    database (``dialect.BigId``, an INTEGER on SQLite) keeps its base type's range."""
    if isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    for kind, low, high in _INTEGER_RANGES:
        if isinstance(type_, kind):
            return low, high
    return None


def _integer_binds(compiled: Any) -> dict[str, tuple[int, int]]:
    """The integer-typed parameters of a compiled statement and their ranges (kept on the
    compiled statement, which SQLAlchemy caches, so it is worked out once per statement)."""
    found: dict[str, tuple[int, int]] | None = getattr(compiled, "_fleet_integer_binds", None)
    if found is None:
        found = {}
        for bind, name in compiled.bind_names.items():
            bounds = integer_range(bind.type)
            if bounds is not None:
                found[name] = bounds
        compiled._fleet_integer_binds = found
    return found


def _guard_integer_columns(context: Any) -> None:
    """In an INSERT or UPDATE, refuse an integer its column's type cannot hold (once per
    execution: a batched insert reaches the cursor once per batch)."""
    compiled = getattr(context, "compiled", None)
    if compiled is None or not (context.isinsert or context.isupdate):
        return
    if getattr(context, "_fleet_integers_checked", False):
        return
    context._fleet_integers_checked = True
    binds = _integer_binds(compiled)
    if not binds:
        return
    for params in context.compiled_parameters:
        for name, (low, high) in binds.items():
            value = params.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                if not low <= value <= high:
                    raise PoisonValue(
                        f"{name} cannot hold {value}: an integer between {low} and {high}"
                    )


def _guard_parameters(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, context: Any, _many: bool
) -> None:
    """Refuse NUL in text and integers no column can hold, in every statement sent."""
    _guard_integer_columns(context)
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


def create_engine(settings: Settings) -> AsyncEngine:
    """Create the async engine for the configured database."""
    url = async_database_url(settings.resolved_database_url())
    if sql_dialect.url_is_sqlite(url):
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



async def flush_or_conflict(session: AsyncSession, message: str) -> None:
    """Flush the session's pending writes; a unique, foreign-key or check constraint that refuses
    them becomes a 409 with ``message`` (the race a service's own check did not see: another
    request wrote the same key, or still refers to the row, between the check and the write)."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


@contextmanager
def conflict_on_integrity(message: str) -> Iterator[None]:
    """As ``flush_or_conflict``, around a statement executed directly (an UPDATE ... RETURNING
    that a constraint may refuse)."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(message) from exc


# The exceptions to "one request, one transaction, committed by the session dependency when the
# endpoint returns": each commits part of a request's work earlier, for the reason given. They
# are listed in the README ("Transactions") and docs/ARCHITECTURE.md; a test keeps the lists and
# the call sites in step.
EARLY_COMMITS: dict[str, str] = {
    "auth-refusal": "a refused login or refresh still keeps what it recorded (the failed attempt "
    "that throttles the next ones, the sessions revoked on a reused refresh token) although the "
    "error answer rolls the request back",
    "export-audit": "the audit row of a database export is committed before the dump is read on "
    "its own connection, so the dump streams with no transaction of the request open",
    "poll-presence": "a device poll that brings the device online commits before the status "
    "event is published, so a live subscriber that reloads already sees it",
    "software-delete": "a deleted package is committed before its artifact files are removed, so "
    "a failed commit never leaves rows pointing at missing files",
    "version-delete": "a deleted version is committed before its artifact file is removed, for "
    "the same reason",
    "artifact-upload": "an uploaded artifact's row is committed before the answer, so a failed "
    "commit can still take the new file away, and the replaced file is removed only after it",
    "feedback-batch": "DDI action feedback of devices reporting at the same moment is applied in "
    "one transaction of its own (group commit); each request is answered after that commit",
}


async def commit_early(session: AsyncSession, reason: str) -> None:
    """Commit ``session`` now, for one of the listed ``EARLY_COMMITS`` reasons.

    A service never commits: the session dependency commits a request's one transaction when the
    endpoint returns. The few paths that must commit before that (or in a transaction of their
    own) name their reason here, so every exception is found by one search.
    """
    if reason not in EARLY_COMMITS:
        raise ValueError(f"not a listed early commit: {reason!r}")
    await session.commit()


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
    await sql_dialect.sqlite_write_lock(session, pk, pk == key)
    stmt = (
        select(entity).where(pk == key).with_for_update().execution_options(populate_existing=True)
    )
    row: _Row | None = await session.scalar(stmt)
    return row


async def lock_rows(session: AsyncSession, entity: type[_Row], stmt: Select[Any]) -> list[_Row]:
    """Load the rows of ``stmt`` (a select of ``entity``) to change them, locked as
    ``lock_row`` locks one row."""
    (pk,) = entity.__mapper__.primary_key
    await sql_dialect.sqlite_write_lock(session, pk, false())
    result = await session.scalars(stmt.with_for_update().execution_options(populate_existing=True))
    return list(result.all())


def read_only_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, its statements run outside a transaction (no BEGIN/COMMIT).

    For requests that only read: each statement sees the data committed when it starts, as in
    a READ COMMITTED transaction, and no round trip is spent opening and closing one.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")
