"""The `fleet` command: demo idempotence, users, badges, migrations, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from fleet.auth.security import _verify_sync
from fleet.models import User
from fleet.settings import Settings, sync_database_url
from tests.support import clean_env, run_fleet


def run(
    settings: Settings, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = clean_env(
        FLEET_DATA_DIR=str(settings.data_dir),
        FLEET_ENV="test",
        FLEET_DATABASE_URL=settings.resolved_database_url(),
        FLEET_BCRYPT_ROUNDS="4",
    )
    return run_fleet(*args, env=env, check=False, input=stdin, timeout=120)


@pytest.fixture
def db(settings: Settings):
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_demo_is_idempotent(settings: Settings, db: Session) -> None:
    first = run(settings, "demo")
    assert first.returncode == 0, first.stderr
    assert "users: 5" in first.stdout
    second = run(settings, "demo")
    assert second.returncode == 0 and "users: 0" in second.stdout
    users = {u.username: u for u in db.scalars(select(User))}
    assert set(users) == {"maker1", "admin", "operator1", "manager1", "configurator"}
    assert sorted(users["maker1"].all_roles) == sorted(
        ["operator", "admin", "superuser", "manager", "configurator", "maker"]
    )
    assert users["admin"].role == "superuser" and users["admin"].all_roles == ["superuser", "admin"]
    assert _verify_sync("pass", users["operator1"].password_hash)
    assert users["operator1"].password_hash.startswith("$2")


def test_user_create_set_password_and_qr(settings: Settings, db: Session, tmp_path: Path) -> None:
    r = run(
        settings,
        "user",
        "create",
        "alice",
        "--role",
        "manager",
        "--roles",
        "manager,operator",
        "--email",
        "alice@example.com",
        "--password",
        "secret-pass",
    )
    assert r.returncode == 0, r.stderr
    dup = run(settings, "user", "create", "alice", "--role", "manager", "--password", "secret-pass")
    assert dup.returncode == 1 and dup.stderr.strip().count("\n") == 0
    assert "already exists" in dup.stderr
    bad_role = run(settings, "user", "create", "bob", "--role", "wizard", "--password", "x" * 9)
    assert bad_role.returncode == 1 and "unknown role" in bad_role.stderr
    short = run(settings, "user", "create", "bob", "--role", "operator", "--password", "short")
    assert short.returncode == 1 and "at least 8" in short.stderr
    prompted = run(
        settings,
        "user",
        "create",
        "carol",
        "--role",
        "operator",
        stdin="prompted-pw\nprompted-pw\n",
    )
    assert prompted.returncode == 0, prompted.stderr

    assert (
        run(settings, "user", "set-password", "alice", "--password", "another-pass").returncode == 0
    )
    missing = run(settings, "user", "set-password", "nobody", "--password", "another-pass")
    assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr

    badge = tmp_path / "alice.svg"
    r = run(settings, "user", "qr", "alice", "--out", str(badge))
    assert r.returncode == 0, r.stderr
    assert badge.read_text().lstrip().startswith(("<?xml", "<svg"))
    alice = db.scalar(select(User).where(User.username == "alice"))
    carol = db.scalar(select(User).where(User.username == "carol"))
    assert alice is not None and carol is not None
    assert alice.all_roles == ["manager", "operator"]
    assert _verify_sync("another-pass", alice.password_hash)
    assert _verify_sync("prompted-pw", carol.password_hash)
    assert alice.qr_code and alice.qr_code.startswith("FLQR-")
    assert db.scalar(select(func.count()).select_from(User)) == 2


def test_db_downgrade_and_upgrade(settings: Settings, db: Session) -> None:
    r = run(settings, "db", "downgrade", "base")
    assert r.returncode == 0, r.stderr
    db.rollback()
    tables = db.execute(
        text(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'users'"
            if db.bind.dialect.name == "postgresql"  # type: ignore[union-attr]
            else "SELECT count(*) FROM sqlite_master WHERE name = 'users'"
        )
    ).scalar()
    assert tables == 0
    assert run(settings, "db", "upgrade").returncode == 0


def test_unreachable_or_wrong_database_is_one_line(tmp_path: Path) -> None:
    base = Settings(env="test", data_dir=tmp_path)
    for url, fragment in [
        ("postgresql://u:secret@127.0.0.1:1/nope", "cannot use database"),
        ("mysql://u:p@localhost/x", "unsupported database"),
        ("::not a url::", "invalid database URL"),
    ]:
        r = run(base.model_copy(update={"database_url": url}), "demo")
        assert r.returncode == 1
        assert r.stderr.strip().count("\n") == 0, r.stderr
        assert fragment in r.stderr and "Traceback" not in r.stderr
        assert "secret" not in r.stderr


def test_production_needs_a_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "DATABASE_URL"))}
    env.update({"FLEET_ENV": "production", "FLEET_DATA_DIR": str(tmp_path)})
    r = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "serve", "--port", "5999"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.strip() == "error: FLEET_SECRET_KEY is required when FLEET_ENV=production"
    demo = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "demo"],
        env={**env, "FLEET_SECRET_KEY": "s" * 40},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert demo.returncode == 1 and "development only" in demo.stderr
    for how in (["--demo"], []):  # the living demo, by option or by setting
        living = subprocess.run(
            [sys.executable, "-m", "fleet.cli", "serve", "--port", "5999", *how],
            env={**env, "FLEET_SECRET_KEY": "s" * 40, **({} if how else {"FLEET_DEMO_FLEET": "1"})},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert living.returncode == 1, living.stderr
        assert living.stderr.strip() == (
            "error: the demo fleet is for development only (FLEET_ENV=production)"
        )
    bad_port = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad_port.returncode == 2 and "Invalid value" in bad_port.stderr
