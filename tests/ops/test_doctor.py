"""`fleet doctor` against a healthy and a broken set-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fleet.settings import Settings
from tests.support import base_env

SECRET = "a-production-secret-that-is-long-enough-0123456789"


def _doctor(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "fleet.cli", "doctor", *args],
        env=env, capture_output=True, text=True, timeout=120,
    )
    return done.returncode, done.stdout.splitlines()


def _status(lines: list[str], name: str) -> str:
    found = [line for line in lines if line[6:].startswith(name)]
    assert found, (name, lines)
    return found[0].split()[0]


def test_healthy_setup_passes(settings: Settings) -> None:
    env = base_env(
        settings.resolved_database_url(), settings.data_dir,
        FLEET_ENV="production", FLEET_SECRET_KEY=SECRET, FLEET_FORWARDED_ALLOW_IPS="10.0.0.5",
    )
    code, lines = _doctor(env, "--workers", "2")
    assert code == 0, lines
    for name in ("secret", "data dir", "database", "migrations", "proxy", "metrics"):
        assert _status(lines, name) == "ok", lines
    if settings.resolved_database_url().startswith("postgresql"):
        assert _status(lines, "pg connections") == "ok", lines
        # More workers and hosts than PostgreSQL takes connections: refused with the sums.
        code, lines = _doctor(env, "--workers", "64", "--hosts", "100")
        assert code == 1 and _status(lines, "pg connections") == "FAIL", lines
        assert "raise max_connections" in "\n".join(lines)


def test_broken_setup_fails(tmp_path: Path) -> None:
    unmigrated = f"sqlite:///{tmp_path / 'empty.db'}"
    env = base_env(unmigrated, tmp_path / "data", FLEET_ENV="production",
                   FLEET_FORWARDED_ALLOW_IPS="*")
    code, lines = _doctor(env)
    assert code == 1
    assert _status(lines, "secret") == "FAIL"
    assert _status(lines, "migrations") == "FAIL"
    assert "fleet db upgrade" in "\n".join(lines)
    assert _status(lines, "proxy") == "FAIL"
    assert lines[-1].startswith("7 checks, 3 failed") or lines[-1].startswith("6 checks, 3 failed")

    # A database that does not answer is one failed line too, not a traceback.
    env = base_env("postgresql://nobody@127.0.0.1:1/none", tmp_path / "data",
                   FLEET_SECRET_KEY=SECRET)
    code, lines = _doctor(env)
    assert code == 1 and _status(lines, "database") == "FAIL", lines
    assert not any("Traceback" in line for line in lines)


def test_unwritable_data_dir_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = base_env(f"sqlite:///{tmp_path / 'x.db'}", blocker / "data")
    code, lines = _doctor(env)
    assert code == 1 and _status(lines, "data dir") == "FAIL", lines
