"""The ``fleet`` command: serve, db, demo, user."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from sqlalchemy import select
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session

from fleet.settings import ConfigError, Settings, get_settings, sync_database_url

P = ParamSpec("P")
R = TypeVar("R")


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def friendly_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn configuration and connection failures into one clear line and exit code 1."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            _fail(str(exc))
        except (OperationalError, DBAPIError) as exc:
            url = sync_database_url(get_settings().resolved_database_url())
            _fail(f"cannot use database {url.render_as_string(hide_password=True)}: {_short(exc)}")
        except ArgumentError as exc:
            _fail(f"invalid database URL: {_short(exc)}")
        except OSError as exc:
            _fail(str(exc))
        raise AssertionError("unreachable")

    return wrapper


@contextmanager
def db_session(settings: Settings) -> Iterator[Session]:
    """A synchronous session for CLI work, committed at the end."""
    from fleet.db import create_sync_engine

    engine = create_sync_engine(settings)
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fleet")
def main() -> None:
    """Fleet Management System for protective-mask testing."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    envvar="FLEET_WORKERS",
    help="Worker processes [default: the CPU count in production, else 1].",
)
@click.option(
    "--proxy-headers",
    is_flag=True,
    help="Behind a reverse proxy: take client address and scheme from X-Forwarded-* "
    "sent by the addresses in FLEET_FORWARDED_ALLOW_IPS.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="A living demo (development only): create the demo data if missing and let its "
    "testers poll this server, install roll-outs and report (same as FLEET_DEMO_FLEET=1).",
)
@friendly_errors
def serve(host: str, port: int, workers: int | None, proxy_headers: bool, demo: bool) -> None:
    """Migrate the database to the newest schema, then serve the app."""
    from fleet.ops import serving

    settings = get_settings()
    if demo:
        settings = settings.model_copy(update={"demo_fleet": True})
    serving.serve(settings, host, port, workers, proxy_headers)


@main.command()
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    envvar="FLEET_WORKERS",
    help="Workers per host `fleet serve` runs [default: as `fleet serve` chooses].",
)
@click.option("--hosts", default=1, show_default=True, type=click.IntRange(1, 100),
              help="Hosts running `fleet serve` against this database.")
def doctor(workers: int | None, hosts: int) -> None:
    """Check the installation: database and schema, secret, data dir, connections, proxy."""
    from fleet.ops import doctor as checks
    from fleet.ops.serving import default_workers

    try:
        settings = get_settings()
    except Exception as exc:  # a malformed setting is the first thing to report
        click.echo(f"FAIL  settings         {exc}")
        sys.exit(1)
    found = checks.run_checks(settings, workers or default_workers(settings), hosts)
    for check in found:
        click.echo(check.line())
    failed = sum(c.status == "FAIL" for c in found)
    click.echo(f"{len(found)} checks, {failed} failed (settings from: "
               f"{checks.environment_summary()})")
    if failed:
        sys.exit(1)


@main.group()
def db() -> None:
    """Schema migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@friendly_errors
def db_upgrade(revision: str) -> None:
    """Migrate up to REVISION (default: newest)."""
    from fleet import migrate

    migrate.upgrade(get_settings(), revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
@friendly_errors
def db_downgrade(revision: str) -> None:
    """Migrate down to REVISION (e.g. -1 or base)."""
    from fleet import migrate

    migrate.downgrade(get_settings(), revision)
    click.echo(f"database at {revision}")


@db.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--autogenerate/--empty", default=True, show_default=True)
@friendly_errors
def db_revision(message: str, autogenerate: bool) -> None:
    """Write a new migration from the difference between the models and the database."""
    from fleet import migrate

    migrate.revision(get_settings(), message, autogenerate)


@main.command()
@friendly_errors
def demo() -> None:
    """Create the demo data (idempotent; refused in production)."""
    from fleet import demo as demo_data
    from fleet import migrate

    settings = get_settings()
    if settings.env == "production":
        _fail("demo data is for development only (FLEET_ENV=production)")
    migrate.upgrade(settings)
    with db_session(settings) as session:
        report = demo_data.run(session, settings.bcrypt_rounds)
    summary = ", ".join(f"{k}: {v}" for k, v in report.items())
    click.echo(f"demo data ready (created {summary}); log in as maker1 / pass")


@main.group()
def user() -> None:
    """Manage user accounts."""


def _load_user(session: Session, username: str) -> Any:
    from fleet.models import User

    found = session.scalar(select(User).where(User.username == username))
    if found is None:
        _fail(f"no user named '{username}'")
    return found


def _check_password(password: str) -> None:
    from fleet.auth.security import BCRYPT_MAX_BYTES

    if len(password) < 8:
        _fail("password must be at least 8 characters")
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        _fail(f"password must be at most {BCRYPT_MAX_BYTES} bytes")


def _roles_option(value: str | None) -> list[str]:
    return [r.strip() for r in value.split(",") if r.strip()] if value else []


@user.command("create")
@click.argument("username")
@click.option("--role", required=True, help="Primary role.")
@click.option("--roles", default=None, help="All roles, comma separated.")
@click.option("--email", default=None)
@click.option("--password", default=None, help="Prompted for when not given.")
@friendly_errors
def user_create(
    username: str, role: str, roles: str | None, email: str | None, password: str | None
) -> None:
    """Create a user account."""
    from pydantic import ValidationError

    from fleet import migrate
    from fleet.auth.security import hash_password_sync
    from fleet.models import User
    from fleet.users.schemas import UserCreate

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    assert password is not None
    _check_password(password)
    try:
        data = UserCreate(
            username=username,
            role=role,
            roles=_roles_option(roles) or None,
            email=email,
            password=password,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        _fail(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
        return
    settings = get_settings()
    migrate.upgrade(settings)
    with db_session(settings) as session:
        clash = session.scalar(
            select(User.id).where(
                (User.username == data.username)
                | ((User.email == data.email) if data.email else False)
            )
        )
        if clash is not None:
            _fail("a user with this username or email already exists")
        all_roles = [data.role, *[r for r in (data.roles or []) if r != data.role]]
        session.add(
            User(
                username=data.username,
                email=data.email,
                role=data.role,
                roles=all_roles,
                is_active=True,
                password_hash=hash_password_sync(password, settings.bcrypt_rounds),
            )
        )
    click.echo(f"user {username} created with roles {', '.join(all_roles)}")


@user.command("set-password")
@click.argument("username")
@click.option("--password", default=None, help="Prompted for when not given.")
@friendly_errors
def user_set_password(username: str, password: str | None) -> None:
    """Set a user's password (ends the user's sessions)."""
    from sqlalchemy import update

    from fleet.auth.security import hash_password_sync
    from fleet.db import utcnow
    from fleet.models import AuthSession

    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    assert password is not None
    _check_password(password)
    settings = get_settings()
    with db_session(settings) as session:
        found = _load_user(session, username)
        found.password_hash = hash_password_sync(password, settings.bcrypt_rounds)
        session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == found.id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=utcnow(), revoked_reason="password_set")
        )
    click.echo(f"password of {username} changed")


@user.command("qr")
@click.argument("username")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Badge file to write (.png or .svg).",
)
@click.option("--regenerate", is_flag=True, help="Issue a new code (the old badge stops working).")
@friendly_errors
def user_qr(username: str, out: Path, regenerate: bool) -> None:
    """Write a user's QR login badge (creating a code if the user has none)."""
    from fleet.auth.security import new_qr_code
    from fleet.users.service import badge_image

    fmt = "svg" if out.suffix.lower() == ".svg" else "png"
    settings = get_settings()
    with db_session(settings) as session:
        found = _load_user(session, username)
        if regenerate or not found.qr_code:
            found.qr_code = new_qr_code()
        code = found.qr_code
    data, _ = badge_image(code, fmt)
    out.write_bytes(data)
    click.echo(f"badge for {username} written to {out}")


@main.group()
def backup() -> None:
    """Whole-database backup and restore (portable between SQLite and PostgreSQL)."""


@backup.command("create")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@friendly_errors
def backup_create(file: Path) -> None:
    """Write every table to FILE (gzip'd JSON lines with per-table checksums)."""
    from fleet.config import cli_backup

    cli_backup.create(get_settings(), file)


@backup.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Overwrite a database that is not empty.")
@friendly_errors
def backup_restore(file: Path, replace: bool) -> None:
    """Load FILE into the database in one transaction (refuses a non-empty one)."""
    from fleet.config import cli_backup

    cli_backup.restore(get_settings(), file, replace)


@main.group()
def workshop() -> None:
    """Fleet Workshop Manager tasks."""


@workshop.command("send-reminders")
@click.option("--within-days", type=click.IntRange(0, 3650), default=30, show_default=True)
@click.option("--customer-id", type=click.IntRange(1), default=None)
@click.option("--dry-run", is_flag=True, help="List what would be sent; send nothing.")
@friendly_errors
def workshop_send_reminders(within_days: int, customer_id: int | None, dry_run: bool) -> None:
    """E-mail each customer contact what falls due and was not told yet (for cron)."""
    from fleet.errors import DomainError
    from fleet.workshop import cli_reminders

    try:
        lines = cli_reminders.send(get_settings(), within_days, customer_id, dry_run)
    except DomainError as exc:
        _fail(str(exc.detail))
    for line in lines:
        click.echo(line)


@main.command()
@click.option("--server", default="http://127.0.0.1:5000", show_default=True)
@click.option(
    "--devices",
    "count",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Create (or reuse) N simulated testers in the configured database, with fresh tokens.",
)
@click.option(
    "--tokens",
    "tokens_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Reuse existing devices: a file of 'controllerId token' lines.",
)
@click.option(
    "--save-tokens",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the created devices' tokens to this file (for --tokens later).",
)
@click.option("--prefix", default="SIM", show_default=True, help="Device number prefix.")
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds to run (default: until Ctrl-C).",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.05),
    default=None,
    help="Seconds between polls (default: what the server says).",
)
@click.option("--no-telemetry", is_flag=True, help="Do not stream pressure curves.")
@friendly_errors
def simulate(
    server: str,
    count: int | None,
    tokens_file: Path | None,
    save_tokens: Path | None,
    prefix: str,
    fail_rate: float,
    duration: float | None,
    poll_interval: float | None,
    no_telemetry: bool,
) -> None:
    """Run simulated mask testers against a server over the device API (DDI + telemetry)."""
    import asyncio

    from fleet.devices_api import simulator

    settings = get_settings()
    if tokens_file is not None:
        devices = simulator.read_tokens(tokens_file.read_text())
    elif count is not None:
        with db_session(settings) as session:
            devices = simulator.provision(session, count, prefix)
        if save_tokens is not None:
            save_tokens.write_text("".join(f"{d.controller_id} {d.token}\n" for d in devices))
            save_tokens.chmod(0o600)
    else:
        _fail("give --devices N or --tokens FILE")
        return
    if not devices:
        _fail("no devices to simulate")
    try:
        stats = asyncio.run(
            simulator.run(
                server.rstrip("/"),
                devices,
                tenant=settings.tenant,
                fail_rate=fail_rate,
                duration=duration,
                poll_interval=poll_interval,
                telemetry=not no_telemetry,
                report=simulator.terminal_report,
            )
        )
    except KeyboardInterrupt:
        click.echo("\nstopped", err=True)
        return
    click.echo("\n" + stats.line())
    if stats.last_error:
        click.echo(f"last error: {stats.last_error}", err=True)


if __name__ == "__main__":
    main()
