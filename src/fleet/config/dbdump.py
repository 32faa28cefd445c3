"""The whole-database backup: every table of the schema, portable between SQLite and PostgreSQL.

The file is gzip-compressed JSON lines, written and read as a stream so memory stays flat:

    {"format": "fleet-db-dump", "version": 1, "revisions": [...], "tables": [{"name", "rows"}]}
    {"table": "users", "columns": ["id", ...]}
    [1, "maker1", ...]                               one line per row, columns in that order
    {"end": "users", "rows": 5, "sha256": "..."}     SHA-256 over the table's row lines
    ...
    {"done": true, "tables": {"users": {"rows": 5, "sha256": "..."}, ...}}

Tables come from ``Base.metadata.sorted_tables`` at run time (parents before children), so
tables added later are included without changes here. Rows keep their ids; PostgreSQL
sequences are reset after a restore. A restore runs in one transaction: a truncated,
tampered, foreign or newer-schema file changes nothing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from time import perf_counter
from typing import IO, Any

from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Time,
    Uuid,
    func,
    select,
    text,
)
from sqlalchemy.exc import DataError, StatementError
from sqlalchemy.types import TypeDecorator, TypeEngine

# The modules that declare the memo topics a restore must announce (see notify_all_sync).
import fleet.auth.principal_cache
import fleet.fleet_data.devices
import fleet.models  # noqa: F401  (registers every table on the metadata)
from fleet import dialect
from fleet.memo import notify_all_sync
from fleet.models.base import Base
from fleet.ops.metrics import BACKUP_SECONDS
from fleet.validation import LIMITS, PoisonValue, check_datetime, loads_strict

FORMAT = "fleet-db-dump"
VERSION = 1
BATCH_ROWS = 1000
BATCH_BYTES = 1024 * 1024
# Rows fetched per round trip: few for tables with JSON columns (a report can carry a long
# pressure trace), many for narrow ones.
FETCH_WIDE, FETCH_NARROW = 50, 1000
Progress = Callable[[int], None]


class DumpError(Exception):
    """The file cannot be restored here; the message is one line for the operator."""


@dataclass
class TableSummary:
    rows: int = 0
    sha256: str = ""


@dataclass
class Summary:
    revisions: list[str] = field(default_factory=list)
    tables: dict[str, TableSummary] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables.values())


def tables() -> list[Table]:
    """Every table of the schema, parents before children."""
    return list(Base.metadata.sorted_tables)


def _base_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return type_


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _decoder(column: Column[Any]) -> Callable[[Any], Any] | None:
    base = _base_type(column.type)
    if isinstance(base, JSON):
        return None
    if isinstance(base, DateTime):
        return _timestamp
    if isinstance(base, Date):
        return date.fromisoformat
    if isinstance(base, Time):
        return time.fromisoformat
    if isinstance(base, Numeric) and base.asdecimal:
        return Decimal
    if isinstance(base, LargeBinary):
        return base64.b64decode
    if isinstance(base, Uuid) and base.as_uuid:
        return uuid.UUID
    return None


def _timestamp(text: str) -> datetime:
    return check_datetime(datetime.fromisoformat(text))


def _line(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _order(table: Table, bind: Any) -> list[Any]:
    cols = list(table.primary_key.columns) or list(table.columns)
    # Text in byte order on either database, so a dump's rows come in the same order.
    return [
        dialect.byte_order(col, bind) if isinstance(_base_type(col.type), String) else col
        for col in cols
    ]


def current_revisions(conn: Connection) -> list[str]:
    """The Alembic revisions the database is at (empty for an unmigrated one)."""
    try:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except Exception:
        return []
    return sorted(rows)


def _script() -> ScriptDirectory:
    from fleet.migrate import MIGRATIONS_DIR

    return ScriptDirectory(str(MIGRATIONS_DIR))


def count_rows(conn: Connection) -> dict[str, int]:
    """Row count of every table."""
    return {
        t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
        for t in tables()
    }


def dump_stream(engine: Engine, progress: Progress | None = None) -> Iterator[bytes]:
    """Yield the gzip-compressed dump of the whole database, chunk by chunk."""
    started = perf_counter()
    gz = zlib.compressobj(5, zlib.DEFLATED, 31)  # wbits 31: gzip container
    isolation = dialect.snapshot_isolation(engine)
    opts: dict[str, Any] = {"isolation_level": isolation} if isolation else {}
    with engine.connect().execution_options(**opts) as conn, conn.begin():
        counts = count_rows(conn)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "dialect": dialect.name_of(engine),
            "revisions": current_revisions(conn),
            "tables": [{"name": t.name, "rows": counts[t.name]} for t in tables()],
        }
        yield gz.compress(_line(header) + b"\n")
        done: dict[str, dict[str, Any]] = {}
        for table in tables():
            columns = [c.name for c in table.columns]
            yield gz.compress(_line({"table": table.name, "columns": columns}) + b"\n")
            digest = hashlib.sha256()
            rows = 0
            buf: list[bytes] = []
            size = 0
            wide = any(isinstance(_base_type(c.type), JSON) for c in table.columns)
            fetch = FETCH_WIDE if wide else FETCH_NARROW
            result = conn.execution_options(stream_results=True, yield_per=fetch).execute(
                select(*table.columns).order_by(*_order(table, engine))
            )
            for row in result:
                line = _line([_encode(v) for v in row]) + b"\n"
                digest.update(line)
                buf.append(line)
                size += len(line)
                rows += 1
                if len(buf) >= BATCH_ROWS or size >= BATCH_BYTES:
                    yield gz.compress(b"".join(buf))
                    if progress:
                        progress(len(buf))
                    buf, size = [], 0
            if buf:
                yield gz.compress(b"".join(buf))
                if progress:
                    progress(len(buf))
            end = {"end": table.name, "rows": rows, "sha256": digest.hexdigest()}
            done[table.name] = {"rows": rows, "sha256": end["sha256"]}
            yield gz.compress(_line(end) + b"\n")
        yield gz.compress(_line({"done": True, "tables": done}) + b"\n")
    yield gz.flush()
    BACKUP_SECONDS.labels("backup").observe(perf_counter() - started)


def dump(engine: Engine, out: IO[bytes], progress: Progress | None = None) -> None:
    """Write the whole database to a binary file object."""
    for chunk in dump_stream(engine, progress):
        out.write(chunk)


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as gz:
            yield from gz
    except gzip.BadGzipFile:
        raise DumpError("not a fleet backup: the file is not gzip-compressed") from None
    except EOFError:
        raise DumpError("the backup file is truncated") from None
    except zlib.error as exc:
        raise DumpError(f"the backup file is damaged ({exc})") from None


def _parse(line: bytes, what: str) -> Any:
    try:
        # a row is a list of values: one level above the JSON columns it carries
        return loads_strict(line, LIMITS.max_depth + 1)
    except PoisonValue as exc:
        raise DumpError(f"the backup holds a value that is refused in {what}: {exc}") from None
    except ValueError:
        raise DumpError(f"the backup file is damaged: {what} is not valid JSON") from None


def read_header(stream: IO[bytes]) -> dict[str, Any]:
    """Read and check only the header of a dump."""
    for line in _lines(stream):
        return _check_header(_parse(line, "the header"))
    raise DumpError("the backup file is empty")


def _check_header(header: Any) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DumpError("not a fleet database backup (unknown format)")
    if header.get("version") != VERSION:
        raise DumpError(f"unsupported backup format version {header.get('version')!r}")
    script = _script()
    for rev in header.get("revisions") or []:
        try:
            found = script.get_revision(str(rev))
        except Exception:
            found = None
        if found is None:
            raise DumpError(
                f"the backup is from a newer schema (revision {rev} is unknown here); "
                "upgrade this installation first"
            )
    known = {t.name for t in tables()}
    for entry in header.get("tables") or []:
        if not isinstance(entry, dict) or entry.get("name") not in known:
            name = entry.get("name") if isinstance(entry, dict) else entry
            raise DumpError(f"the backup has a table this schema does not know: {name!r}")
    return header


def _insert_table(table: Table, names: list[str]) -> Table:
    """A copy of the table's columns for inserting, keeping SQL NULL apart from JSON null."""
    cols = []
    for name in names:
        col = table.columns[name]
        if isinstance(_base_type(col.type), JSON):
            type_: TypeEngine[Any] = dialect.json_type(none_as_null=True)
        else:
            type_ = col.type
        cols.append(Column(name, type_))
    return Table(table.name, MetaData(), *cols)


def reset_sequences(conn: Connection) -> None:
    """Move every PostgreSQL sequence past the highest id restored."""
    if not dialect.is_postgres(conn):
        return
    for table in tables():
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(_base_type(pk[0].type), Integer):
            continue
        conn.execute(dialect.reset_sequence(table.name, pk[0].name))


def _wipe(conn: Connection) -> None:
    if dialect.is_postgres(conn):
        names = ", ".join(f'"{t.name}"' for t in tables())
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables()):
            conn.execute(table.delete())


def _flush(conn: Connection, insert: Table, batch: list[dict[str, Any]]) -> None:
    if batch:
        try:
            conn.execute(insert.insert(), batch)
        except DataError as exc:  # e.g. an integer beyond this database's column type
            raise DumpError(
                f"the backup holds a value {insert.name} cannot hold here: "
                f"{str(exc.orig).splitlines()[0]}"
            ) from None
        except StatementError as exc:
            if not isinstance(exc.orig, PoisonValue):
                raise
            raise DumpError(
                f"the backup holds a value that is refused in {insert.name}: {exc.orig}"
            ) from None
        except PoisonValue as exc:  # refused by the write guard before the statement is sent
            raise DumpError(
                f"the backup holds a value that is refused in {insert.name}: {exc}"
            ) from None
        batch.clear()


def restore(
    engine: Engine,
    stream: IO[bytes],
    *,
    replace: bool = False,
    progress: Progress | None = None,
    on_header: Callable[[dict[str, Any]], None] | None = None,
) -> Summary:
    """Load a dump into the database in one transaction; raise DumpError and change nothing
    when the file is not sound or the database is not empty (unless ``replace``)."""
    with BACKUP_SECONDS.labels("restore").time():
        return _restore(engine, stream, replace=replace, progress=progress, on_header=on_header)


def _restore(
    engine: Engine,
    stream: IO[bytes],
    *,
    replace: bool,
    progress: Progress | None,
    on_header: Callable[[dict[str, Any]], None] | None,
) -> Summary:
    by_name = {t.name: t for t in tables()}
    summary = Summary()
    with engine.connect() as conn, conn.begin():
        local_revs = current_revisions(conn)
        nonempty = [n for n, c in count_rows(conn).items() if c]
        lines = _lines(stream)
        header: dict[str, Any] | None = None
        current: Table | None = None
        insert: Table | None = None
        decoders: list[Callable[[Any], Any] | None] = []
        names: list[str] = []
        digest = hashlib.sha256()
        rows = 0
        batch: list[dict[str, Any]] = []
        batch_bytes = 0
        finished = False
        for raw in lines:
            if header is None:
                header = _check_header(_parse(raw, "the header"))
                if not local_revs:
                    raise DumpError("the target database has no schema; run `fleet db upgrade`")
                if nonempty and not replace:
                    raise DumpError(
                        f"the database is not empty ({', '.join(nonempty[:5])}"
                        f"{', ...' if len(nonempty) > 5 else ''}); use --replace to overwrite it"
                    )
                if on_header:
                    on_header(header)
                if nonempty:
                    _wipe(conn)
                summary.revisions = list(header.get("revisions") or [])
                continue
            if finished:
                raise DumpError("the backup file has data after its end marker")
            if current is not None and raw.startswith(b"["):
                digest.update(raw if raw.endswith(b"\n") else raw + b"\n")
                values = _parse(raw, f"a row of {current.name}")
                if not isinstance(values, list) or len(values) != len(names):
                    raise DumpError(
                        f"the backup file is damaged: a row of {current.name} "
                        "has the wrong number of values"
                    )
                try:
                    batch.append(
                        {
                            n: (d(v) if d is not None and v is not None else v)
                            for n, d, v in zip(names, decoders, values, strict=True)
                        }
                    )
                except PoisonValue as exc:
                    raise DumpError(
                        f"the backup holds a value that is refused in {current.name}: {exc}"
                    ) from None
                except (ValueError, TypeError) as exc:
                    raise DumpError(
                        f"the backup file is damaged: a value in {current.name} "
                        f"cannot be read ({exc})"
                    ) from None
                rows += 1
                batch_bytes += len(raw)
                if len(batch) >= BATCH_ROWS or batch_bytes >= BATCH_BYTES:
                    assert insert is not None
                    n = len(batch)
                    _flush(conn, insert, batch)
                    batch_bytes = 0
                    if progress:
                        progress(n)
                continue
            marker = _parse(raw, "a section marker")
            if not isinstance(marker, dict):
                raise DumpError("the backup file is damaged: unexpected line")
            if "table" in marker and current is None:
                name = marker["table"]
                if name not in by_name:
                    raise DumpError(f"the backup has a table this schema does not know: {name!r}")
                current = by_name[name]
                names = list(marker.get("columns") or [])
                unknown = [c for c in names if c not in current.columns]
                if unknown:
                    raise DumpError(
                        f"the backup has columns this schema does not know: "
                        f"{name}.{unknown[0]} (is it from a newer version?)"
                    )
                insert = _insert_table(current, names)
                decoders = [_decoder(current.columns[c]) for c in names]
                digest, rows = hashlib.sha256(), 0
            elif "end" in marker and current is not None and marker["end"] == current.name:
                assert insert is not None
                n = len(batch)
                _flush(conn, insert, batch)
                batch_bytes = 0
                if progress and n:
                    progress(n)
                if marker.get("rows") != rows or marker.get("sha256") != digest.hexdigest():
                    raise DumpError(
                        f"checksum mismatch in table {current.name}: the backup "
                        "file was altered or damaged"
                    )
                summary.tables[current.name] = TableSummary(rows, digest.hexdigest())
                current = None
            elif marker.get("done") is True and current is None:
                expected = marker.get("tables") or {}
                got = {n: {"rows": t.rows, "sha256": t.sha256} for n, t in summary.tables.items()}
                if expected != got:
                    raise DumpError("the backup file's table list does not match its content")
                finished = True
            else:
                raise DumpError("the backup file is damaged: sections are out of order")
        if header is None:
            raise DumpError("the backup file is empty")
        if not finished:
            raise DumpError("the backup file is truncated (no end marker)")
        reset_sequences(conn)
    # Running servers drop what they remember of logins and totals (see fleet.memo).
    notify_all_sync(engine)
    return summary


def table_checksums(engine: Engine) -> dict[str, TableSummary]:
    """Per-table row counts and checksums of a database, exactly as a dump would write them."""
    out: dict[str, TableSummary] = {}
    data = zlib.decompressobj(31)
    pending = b""
    for chunk in dump_stream(engine):
        pending += data.decompress(chunk)
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.startswith(b"{") and b'"end"' in line:
                marker = json.loads(line)
                if "end" in marker:
                    out[marker["end"]] = TableSummary(marker["rows"], marker["sha256"])
    return out
