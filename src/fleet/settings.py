"""Application settings, read from the environment with the ``FLEET_`` prefix.

One root, ``Settings``, with nested sections for the parts that have a prefix of their own:
``settings.ddi`` (``FLEET_DDI_...``, the device API) and ``settings.bench``
(``FLEET_SIMULATED_BENCH``). Each section reads its own flat variables, so the names stay the
ones the README's tables document. ``env_name`` answers a setting's variable name.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(Exception):
    """A setting is missing or malformed; the message is meant for the operator."""


_PG_DRIVERS = {
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
    "postgresql+pg8000",
}
_SQLITE_DRIVERS = {"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"}


class DdiSettings(BaseSettings):
    """The device API (hawkBit DDI): polling interval, token rotation grace, telemetry limits,
    gateway token, quotas. ``settings.ddi``; variables ``FLEET_DDI_...``."""

    model_config = SettingsConfigDict(env_prefix="FLEET_DDI_", extra="ignore")

    polling_seconds: int = Field(default=60, ge=1, le=86_400)
    offline_after_intervals: int = Field(default=3, ge=1)
    sweep_seconds: float = Field(default=5.0, gt=0)
    token_grace_minutes: int = Field(default=1440, ge=0, le=100_800)
    max_batch: int = Field(default=5000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    # hawkBit's gateway security token: ``Authorization: GatewayToken <t>`` authenticates any
    # controller of the tenant and registers an unknown one on its first poll. Off when unset.
    gateway_token: str | None = Field(default=None, min_length=16, max_length=200)
    # Quotas (0 turns one off): polls of one device, and reports about one action, per minute.
    poll_quota_per_minute: int = Field(default=120, ge=0, le=100_000)
    feedback_quota_per_minute: int = Field(default=120, ge=0, le=100_000)

    def polling_sleep(self) -> str:
        """Answer the polling interval as DDI's ``HH:MM:SS``."""
        s = self.polling_seconds
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"

    @property
    def offline_after_seconds(self) -> int:
        return self.polling_seconds * self.offline_after_intervals


class BenchSettings(BaseSettings):
    """The built-in simulated bench (``fleet.runs.bench``). ``settings.bench``."""

    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore", populate_by_name=True)

    # In production the simulated bench is off unless FLEET_SIMULATED_BENCH is exactly "1".
    simulated: bool = Field(default=False, validation_alias="FLEET_SIMULATED_BENCH")

    @field_validator("simulated", mode="before")
    @classmethod
    def _exactly_one(cls, value: object) -> object:
        return value == "1" if isinstance(value, str) else value


class Settings(BaseSettings):
    """Every knob of the service; one instance per process."""

    model_config = SettingsConfigDict(env_prefix="FLEET_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("FLEET_DATABASE_URL", "DATABASE_URL")
    )
    secret_key: SecretStr | None = None
    access_token_minutes: int = Field(default=30, ge=1)
    refresh_token_days: int = Field(default=7, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    # Login throttling (README): (username, address) first, then much higher ceilings per
    # username across addresses and per address across usernames; an address the user signed
    # in from within login_trusted_address_days is exempt from the two ceilings.
    login_max_failures_per_user_address: int = Field(default=5, ge=1)
    login_max_failures_per_user: int = Field(default=50, ge=1)
    login_max_failures_per_ip: int = Field(default=100, ge=1)
    login_trusted_address_days: int = Field(default=30, ge=0)
    login_window_minutes: int = Field(default=15, ge=1)
    max_upload_mb: int = Field(default=512, ge=1)
    # The input policy (fleet.edge, fleet.validation): request bodies are cut off while they
    # stream, by kind; JSON is limited in depth and per field.
    max_json_body_kb: int = Field(default=2048, ge=1)
    max_import_mb: int = Field(default=20, ge=1)
    json_max_depth: int = Field(default=32, ge=2, le=256)
    json_field_max_kb: int = Field(default=20480, ge=1)
    # PostgreSQL connections kept open per worker process; requests beyond it open extra
    # connections up to db_max_overflow, which are closed again when the burst is over.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    db_max_overflow: int = Field(default=20, ge=0, le=200)
    tenant: str = "DEFAULT"
    # Operations (README "Running in production"): log lines as text or JSON; /metrics open
    # (the development default), behind a bearer token, on a separate address, or disabled
    # (the production default); the proxies whose X-Forwarded-* headers are believed.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics: Literal["open", "token", "bind", "disabled"] | None = None
    metrics_token: SecretStr | None = None
    metrics_bind: str = "127.0.0.1:9464"
    forwarded_allow_ips: str = "127.0.0.1"
    # Workshop reminders go through this SMTP server (none configured: reminders are refused).
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_tls: Literal["none", "starttls", "ssl"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "fleet-workshop@localhost"
    smtp_timeout_seconds: float = Field(default=30, gt=0, le=600)
    # A test untouched this long is closed as aborted (abandoned) and frees its device; the
    # sweep looks every test_sweep_seconds (and whenever a test starts or the list is read).
    test_idle_timeout_minutes: int = Field(default=120, ge=1)
    test_sweep_seconds: int = Field(default=60, ge=1, le=3600)
    # The living demo (fleet serve --demo): the demo's testers poll this often (seconds).
    demo_fleet: bool = False
    demo_poll_seconds: float = Field(default=5.0, ge=0.5, le=3600)
    # Sections with variables of their own (see the module's docstring).
    ddi: DdiSettings = Field(default_factory=DdiSettings)
    bench: BenchSettings = Field(default_factory=BenchSettings)

    def resolved_database_url(self) -> str:
        """Return the configured database URL, defaulting to a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fleet.db').resolve()}"

    def jwt_secret(self) -> str:
        """Return the signing secret; generate and keep one in the data dir outside production."""
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        if self.env == "production":
            raise ConfigError("FLEET_SECRET_KEY is required when FLEET_ENV=production")
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Several processes or hosts sharing the data dir may start at once: the secret is
        # written whole to a file of its own, then linked into place; whoever links first wins
        # and every other process reads that one (never a half-written file).
        value = secrets.token_urlsafe(48)
        draft = self.data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
            try:
                os.link(draft, path)
            except FileExistsError:
                return path.read_text().strip()
        finally:
            draft.unlink(missing_ok=True)
        return value

    def metrics_mode(self) -> str:
        """How /metrics is served: the setting, else open in development, off in production."""
        if self.metrics is not None:
            return self.metrics
        return "disabled" if self.env == "production" else "open"

    def metrics_address(self) -> tuple[str, int]:
        """``FLEET_METRICS_BIND`` as (host, port)."""
        host, sep, port = self.metrics_bind.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"FLEET_METRICS_BIND must be host:port, not {self.metrics_bind!r}")
        return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - the operator's choice


SECTIONS: dict[str, type[BaseSettings]] = {"": Settings, "ddi": DdiSettings, "bench": BenchSettings}


def env_names(field: str, section: str = "") -> list[str]:
    """The environment variables a setting is read from, e.g. ``env_names("polling_seconds",
    "ddi") == ["FLEET_DDI_POLLING_SECONDS"]`` (first the one the README names)."""
    model = SECTIONS[section]
    info = model.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"{model.model_config.get('env_prefix', '')}{field}".upper()]


def env_name(field: str, section: str = "") -> str:
    """The environment variable of a setting (the first one, when several are read)."""
    return env_names(field, section)[0]


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL: {exc}") from None


def async_database_url(url: str) -> URL:
    """Map any accepted URL form onto the async driver this service uses."""
    parsed = _parse(url)
    if parsed.drivername in _PG_DRIVERS:
        return parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername in _SQLITE_DRIVERS:
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ConfigError(f"unsupported database '{parsed.drivername}': use postgresql:// or sqlite://")


def sync_database_url(url: str) -> URL:
    """Map any accepted URL form onto the synchronous driver used for migrations and the CLI."""
    parsed = async_database_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        return parsed.set(drivername="sqlite")
    return parsed.set(drivername="postgresql+psycopg")


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings."""
    return Settings()
