"""`fleet doctor`: the checks an operator runs after an install or an upgrade.

One line per check (``ok``, ``warn`` or ``FAIL``, its name, what was found); the command exits
1 when any check fails. Nothing is changed: the database is only read.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from fleet.settings import ConfigError, Settings, sync_database_url

MIN_FREE_BYTES = 1 << 30  # below 1 GiB free a backup or an artifact upload may not fit
MIN_SECRET_LENGTH = 32
# Connections a worker holds besides its pool: the LISTEN connection of live events and a
# scrape's short connection; the CLI (backups, doctor, migrations) needs a few more.
EXTRA_PER_WORKER = 2
EXTRA_FOR_TOOLS = 5

Status = Literal["ok", "warn", "FAIL"]


@dataclass
class Check:
    status: Status
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<16} {self.detail}"


def _secret(settings: Settings) -> Check:
    given = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if settings.env == "production":
        if not given:
            return Check("FAIL", "secret", "FLEET_SECRET_KEY is required in production")
        if len(given) < MIN_SECRET_LENGTH:
            return Check(
                "FAIL", "secret", f"FLEET_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} chars"
            )
        return Check("ok", "secret", "FLEET_SECRET_KEY set")
    if given:
        return Check("ok", "secret", "FLEET_SECRET_KEY set")
    return Check(
        "ok", "secret", f"development secret kept in {settings.data_dir / 'secret_key'}"
    )


def _data_dir(settings: Settings) -> Check:
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("FAIL", "data dir", f"{path} is not writable: {exc.strerror or exc}")
    free = shutil.disk_usage(path).free
    detail = f"{path.resolve()} writable, {free / (1 << 30):.1f} GiB free"
    if free < MIN_FREE_BYTES:
        return Check("FAIL", "data dir", detail + " (less than 1 GiB)")
    return Check("ok", "data dir", detail)


def _proxy(settings: Settings) -> Check:
    entries = [e.strip() for e in settings.forwarded_allow_ips.split(",") if e.strip()]
    if not entries:
        return Check("FAIL", "proxy", "FLEET_FORWARDED_ALLOW_IPS is empty")
    for entry in entries:
        if entry == "*":
            if settings.env == "production":
                return Check(
                    "FAIL",
                    "proxy",
                    "FLEET_FORWARDED_ALLOW_IPS='*' lets any client forge its address and "
                    "scheme; list the proxies' addresses",
                )
            continue
        if entry.startswith("unix:"):
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return Check("FAIL", "proxy", f"FLEET_FORWARDED_ALLOW_IPS: {entry!r} is no address")
    return Check("ok", "proxy", f"X-Forwarded-* believed from {', '.join(entries)}")


def _metrics(settings: Settings) -> Check:
    mode = settings.metrics_mode()
    if mode == "token" and not (
        settings.metrics_token and settings.metrics_token.get_secret_value()
    ):
        return Check("FAIL", "metrics", "FLEET_METRICS=token needs FLEET_METRICS_TOKEN")
    if mode == "bind":
        try:
            host, port = settings.metrics_address()
        except ConfigError as exc:
            return Check("FAIL", "metrics", str(exc))
        return Check("ok", "metrics", f"served on {host}:{port}")
    if mode == "open" and settings.env == "production":
        return Check("warn", "metrics", "/metrics is open to anyone reaching the app")
    return Check("ok", "metrics", f"/metrics {mode}")


def _database(settings: Settings, workers: int, hosts: int) -> Iterator[Check]:
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.pool import NullPool

    from fleet.dialect import url_is_postgres
    from fleet.migrate import MIGRATIONS_DIR

    url = sync_database_url(settings.resolved_database_url())
    shown = url.render_as_string(hide_password=True)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            yield Check("ok", "database", f"{shown} reachable")
            have: list[str] = []
            if inspect(conn).has_table("alembic_version"):
                rows = conn.execute(text("SELECT version_num FROM alembic_version"))
                have = sorted(rows.scalars())
            heads = sorted(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
            if have == heads:
                yield Check("ok", "migrations", f"at the newest revision {', '.join(heads)}")
            elif not have:
                yield Check("FAIL", "migrations", "database not migrated: run `fleet db upgrade`")
            else:
                yield Check(
                    "FAIL",
                    "migrations",
                    f"at {', '.join(have)}, newest is {', '.join(heads)}: run `fleet db upgrade`",
                )
            if url_is_postgres(url):
                yield _connections(conn, settings, workers, hosts)
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        yield Check("FAIL", "database", f"{shown}: {reason[0] if reason else exc}")
    finally:
        engine.dispose()


def _connections(conn: object, settings: Settings, workers: int, hosts: int) -> Check:
    from sqlalchemy import text

    run = conn.execute  # type: ignore[attr-defined]
    limit = int(run(text("SHOW max_connections")).scalar_one())
    reserved = int(run(text("SHOW superuser_reserved_connections")).scalar_one())
    per_worker = settings.db_pool_size + settings.db_max_overflow + EXTRA_PER_WORKER
    needed = per_worker * workers * hosts + EXTRA_FOR_TOOLS
    available = limit - reserved
    detail = (
        f"need up to {needed} = ({settings.db_pool_size} pool + {settings.db_max_overflow} "
        f"overflow + {EXTRA_PER_WORKER}) x {workers} workers x {hosts} host(s) + "
        f"{EXTRA_FOR_TOOLS}; max_connections {limit} - {reserved} reserved = {available}"
    )
    if needed > available:
        return Check(
            "FAIL",
            "pg connections",
            detail + ": raise max_connections or lower FLEET_DB_POOL_SIZE/_MAX_OVERFLOW",
        )
    return Check("ok", "pg connections", detail)


def run_checks(settings: Settings, workers: int, hosts: int) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    checks = [_secret(settings), _data_dir(settings)]
    checks.extend(_database(settings, workers, hosts))
    checks.extend([_proxy(settings), _metrics(settings)])
    return checks


def environment_summary() -> str:
    """Which settings came from the environment (names only, never values)."""
    names = sorted(k for k in os.environ if k.startswith("FLEET_"))
    return ", ".join(names) if names else "none (defaults)"
