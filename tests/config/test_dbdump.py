"""Whole-database backup: round trip with identical per-table checksums, ids and sequences
kept, refusal of non-empty targets, tampered/truncated/foreign/newer files, the CLI, the
admin export, and SQLite → PostgreSQL → SQLite migration."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session

from fleet import migrate
from fleet.cli import main
from fleet.config import dbdump
from fleet.db import install_sqlite_pragmas
from fleet.migrate import alembic_config
from fleet.models import ConfigBackup, Customer, Device, SystemLog, TestReport, User
from fleet.settings import Settings, get_settings, sync_database_url


def _engine(url: str) -> Engine:
    engine = create_engine(sync_database_url(url))
    install_sqlite_pragmas(engine)
    return engine


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = _engine(settings.resolved_database_url())
    yield eng
    eng.dispose()


def populate(engine: Engine, devices: int = 30) -> None:
    """A little of everything: users, customers, devices, reports with traces, logs, backups."""
    with Session(engine) as s, s.begin():
        user = User(
            username="ann",
            password_hash="x",
            role="maker",
            roles=["maker", "admin"],
            email="ann@example.com",
        )
        s.add(user)
        customer = Customer(name="Żółć & Co", contact_info={"phone": "+48 1", "tags": [1, 2.5]})
        s.add(customer)
        s.flush()
        for n in range(devices):
            s.add(
                Device(
                    device_number=f"D-{n:04d}",
                    device_type="mask_tester",
                    customer_id=customer.id,
                    configuration=None if n % 3 == 0 else {"n": n, "on": True},
                )
            )
        s.flush()
        first = s.scalar(select(Device.id).order_by(Device.id))
        for _n in range(5):
            s.add(
                TestReport(
                    device_id=first,
                    operator_id=user.id,
                    customer_id=customer.id,
                    start_time=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
                    status="completed",
                    results={"verdict": "passed"},
                    pressure_data=[{"t": i * 0.1, "p": -14.0 + i / 7} for i in range(50)],
                )
            )
        s.add(SystemLog(log_level="INFO", user_id=user.id, action="x", details={"a": None}))
        s.add(
            ConfigBackup(
                backup_name="b",
                kind="snapshot",
                data={"tables": {}},
                size=1,
                sha256="0" * 64,
                created_by=user.id,
            )
        )


def _dump(engine: Engine) -> bytes:
    out = io.BytesIO()
    dbdump.dump(engine, out)
    return out.getvalue()


def _rewrite(data: bytes, change: callable) -> bytes:  # type: ignore[valid-type]
    lines = gzip.decompress(data).split(b"\n")
    return gzip.compress(b"\n".join(change(lines)))


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as c:
        return int(c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def test_round_trip_keeps_every_row_and_resets_sequences(engine: Engine) -> None:
    populate(engine)
    before = dbdump.table_checksums(engine)
    data = _dump(engine)
    header = json.loads(gzip.decompress(data).split(b"\n", 1)[0])
    assert {t["name"] for t in header["tables"]} == {t.name for t in dbdump.tables()}
    heads = ScriptDirectory.from_config(alembic_config(Settings())).get_heads()
    assert header["revisions"] == heads  # the schema revision the dump was taken at

    with pytest.raises(dbdump.DumpError, match="not empty"):
        dbdump.restore(engine, io.BytesIO(data))
    summary = dbdump.restore(engine, io.BytesIO(data), replace=True)
    assert summary.tables["devices"].rows == 30
    after = dbdump.table_checksums(engine)
    assert after == before

    with Session(engine) as s, s.begin():
        top = s.scalar(select(func.max(Device.id)))
        row = Device(device_number="NEW", device_type="x")
        s.add(row)
        s.flush()
        assert row.id > top
        assert (
            s.scalar(select(Device.configuration).where(Device.device_number == "D-0000")) is None
        )


@pytest.mark.parametrize(
    "damage,message",
    [
        (
            lambda lines: [lines[0], *lines[1:3], lines[3].replace(b'"', b"'", 1), *lines[4:]],
            "damaged|checksum",
        ),
        (lambda lines: [x.replace(b'"ann"', b'"eve"') for x in lines], "checksum"),
        (lambda lines: lines[: len(lines) // 2], "truncated|checksum"),
        (
            lambda lines: [
                json.dumps({**json.loads(lines[0]), "revisions": ["9999_future"]}).encode(),
                *lines[1:],
            ],
            "newer schema",
        ),
        (lambda lines: [json.dumps({"format": "other"}).encode(), *lines[1:]], "not a fleet"),
        (lambda lines: [*lines[:-2], lines[-1]], "truncated"),
    ],
)
def test_damaged_files_change_nothing(engine: Engine, damage: callable, message: str) -> None:  # type: ignore[valid-type]
    populate(engine)
    before = dbdump.table_checksums(engine)
    bad = _rewrite(_dump(engine), damage)
    with pytest.raises(dbdump.DumpError, match=message):
        dbdump.restore(engine, io.BytesIO(bad), replace=True)
    assert dbdump.table_checksums(engine) == before


def test_foreign_and_cut_files(engine: Engine) -> None:
    populate(engine, devices=3)
    with pytest.raises(dbdump.DumpError, match="not gzip"):
        dbdump.restore(engine, io.BytesIO(b"SELECT 1;"), replace=True)
    data = _dump(engine)
    with pytest.raises(dbdump.DumpError, match=r"truncated|damaged"):
        dbdump.restore(engine, io.BytesIO(data[: len(data) - 40]), replace=True)
    assert _count(engine, "devices") == 3


def test_cli_create_and_restore(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(engine, devices=5)
    before = dbdump.table_checksums(engine)
    monkeypatch.setenv("FLEET_DATABASE_URL", settings.resolved_database_url())
    monkeypatch.setenv("FLEET_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        file = tmp_path / "all.fleetdump.gz"
        r = runner.invoke(main, ["backup", "create", str(file)])
        assert r.exit_code == 0, r.output
        assert "backup written" in r.output and file.exists()
        r = runner.invoke(main, ["backup", "restore", str(file)])
        assert r.exit_code == 1
        assert r.output.strip().splitlines()[-1].startswith("error: the database is not empty")
        r = runner.invoke(main, ["backup", "restore", str(file), "--replace"])
        assert r.exit_code == 0, r.output
        assert dbdump.table_checksums(engine) == before
        (tmp_path / "junk").write_bytes(b"junk")
        r = runner.invoke(main, ["backup", "restore", str(tmp_path / "junk"), "--replace"])
        assert r.exit_code == 1 and "not gzip" in r.output
    finally:
        get_settings.cache_clear()


async def test_admin_export_streams_the_dump(
    client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]], settings: Settings
) -> None:
    assert (
        await client.get("/api/v1/fleet-config/export", headers=role_headers["configurator"])
    ).status_code == 403
    r = await client.get("/api/v1/fleet-config/export", headers=role_headers["admin"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    engine = _engine(settings.resolved_database_url())
    try:
        with pytest.raises(dbdump.DumpError, match="not empty"):
            dbdump.restore(engine, io.BytesIO(r.content))
        dbdump.restore(engine, io.BytesIO(r.content), replace=True)
        assert _count(engine, "users") == 6
        assert _count(engine, "system_logs") >= 1
    finally:
        engine.dispose()


def test_sqlite_to_this_backend_and_back(engine: Engine, tmp_path: Path) -> None:
    """SQLite → the test backend (PostgreSQL when configured) → a new SQLite: every row kept."""
    src_url = f"sqlite:///{tmp_path / 'src.db'}"
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    for url in (src_url, back_url):
        migrate.upgrade(Settings(env="test", data_dir=tmp_path, database_url=url))
    src, back = _engine(src_url), _engine(back_url)
    try:
        populate(src, devices=50)
        expected = dbdump.table_checksums(src)
        dbdump.restore(engine, io.BytesIO(_dump(src)))
        assert dbdump.table_checksums(engine) == expected
        dbdump.restore(back, io.BytesIO(_dump(engine)))
        assert dbdump.table_checksums(back) == expected
        with Session(engine) as s, s.begin():
            row = Customer(name="after")
            s.add(row)
            s.flush()
            assert row.id == 2
    finally:
        src.dispose()
        back.dispose()
