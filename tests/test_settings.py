"""Settings: database URL forms, the signing secret, the sections and the README's tables."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from fleet.settings import (
    SECTIONS,
    BenchSettings,
    ConfigError,
    DdiSettings,
    Settings,
    async_database_url,
    env_name,
    env_names,
    sync_database_url,
)


def test_seed_style_postgres_url_picks_the_drivers() -> None:
    url = "postgresql://fleetuser:fleetpass@localhost:5432/fleet_management"
    assert async_database_url(url).drivername == "postgresql+asyncpg"
    assert sync_database_url(url).drivername == "postgresql+psycopg"
    assert async_database_url("postgres://u@h/db").drivername == "postgresql+asyncpg"
    assert sync_database_url("postgresql+asyncpg://u@h/db").drivername == "postgresql+psycopg"
    assert async_database_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert sync_database_url("sqlite+aiosqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ConfigError):
        async_database_url("oracle://x")


def test_database_url_from_either_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLEET_DATABASE_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://a@b/c")
    assert Settings().database_url == "postgresql://a@b/c"
    monkeypatch.setenv("FLEET_DATABASE_URL", "sqlite:///y.db")
    assert Settings().database_url == "sqlite:///y.db"
    monkeypatch.delenv("FLEET_DATABASE_URL")
    monkeypatch.delenv("DATABASE_URL")
    default = Settings(data_dir=tmp_path).resolved_database_url()
    assert default == f"sqlite:///{(tmp_path / 'fleet.db').resolve()}"


def test_development_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    s = Settings(env="development", data_dir=tmp_path / "d")
    first = s.jwt_secret()
    assert len(first) >= 48
    assert Settings(env="development", data_dir=tmp_path / "d").jwt_secret() == first
    mode = (tmp_path / "d" / "secret_key").stat().st_mode
    assert not mode & (stat.S_IRGRP | stat.S_IROTH)
    assert Settings(env="development", data_dir=tmp_path / "other").jwt_secret() != first


def test_production_without_secret_refuses(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="FLEET_SECRET_KEY is required"):
        Settings(env="production", data_dir=tmp_path).jwt_secret()
    prod = Settings(
        env="production", data_dir=tmp_path, secret_key="a-real-secret-from-the-vault-0123456789"
    )  # type: ignore[arg-type]
    assert prod.jwt_secret().startswith("a-real-secret")


async def test_postgres_pool_follows_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from fleet.db import create_engine

    monkeypatch.setenv("FLEET_DB_POOL_SIZE", "7")
    monkeypatch.setenv("FLEET_DB_MAX_OVERFLOW", "3")
    settings = Settings(data_dir=tmp_path, database_url="postgresql://u@127.0.0.1:1/none")
    engine = create_engine(settings)  # no connection is made until first use
    try:
        assert engine.pool.size() == 7  # type: ignore[attr-defined]
        assert engine.pool._max_overflow == 3  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
    monkeypatch.setenv("FLEET_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="db_pool_size"):
        Settings(data_dir=tmp_path)


# ---------------------------------------------------------------- one root, nested sections

README = Path(__file__).resolve().parents[1] / "README.md"
CLI = Path(__file__).resolve().parents[1] / "src" / "fleet" / "cli.py"
# Read by the command line itself (click's ``envvar``), not by the settings object.
CLI_VARIABLES = {"FLEET_WORKERS"}


def _documented() -> set[str]:
    """Every variable named in the first column of the README's settings tables."""
    names: set[str] = set()
    in_table = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| setting | meaning | default |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table:
            first = line.split("|")[1]
            names |= {n for n in re.findall(r"`([A-Z][A-Z0-9_]*)`", first)}
    return names


def _settings_variables() -> set[str]:
    names: set[str] = set()
    for section, model in SECTIONS.items():
        for field in model.model_fields:
            if section == "" and field in SECTIONS:
                continue  # a section, not a variable
            names.update(env_names(field, section))
    return names


def test_the_readme_documents_every_setting_and_no_other() -> None:
    documented = _documented()
    assert "FLEET_DATABASE_URL" in documented and "FLEET_DDI_POLLING_SECONDS" in documented
    variables = _settings_variables()
    assert not variables - documented, f"missing from the README: {variables - documented}"
    assert not documented - variables - CLI_VARIABLES, "README names settings that do not exist"
    for name in CLI_VARIABLES:
        assert f'envvar="{name}"' in CLI.read_text(encoding="utf-8")


def test_sections_are_nested_in_the_one_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_DDI_POLLING_SECONDS", "90")
    monkeypatch.setenv("FLEET_DDI_GATEWAY_TOKEN", "gw-0123456789abcdef")
    monkeypatch.setenv("FLEET_DDI_POLL_QUOTA_PER_MINUTE", "0")
    monkeypatch.setenv("FLEET_SIMULATED_BENCH", "1")
    settings = Settings()
    assert isinstance(settings.ddi, DdiSettings) and isinstance(settings.bench, BenchSettings)
    assert settings.ddi.polling_seconds == 90 and settings.ddi.polling_sleep() == "00:01:30"
    assert settings.ddi.gateway_token == "gw-0123456789abcdef"
    assert settings.ddi.poll_quota_per_minute == 0
    assert settings.ddi.offline_after_seconds == 270
    assert settings.bench.simulated is True
    monkeypatch.setenv("FLEET_DDI_POLLING_SECONDS", "0")
    with pytest.raises(ValueError, match="polling_seconds"):
        Settings()
    # A section can be given whole, as the tests and the CLI do with the root.
    given = Settings(ddi=DdiSettings(polling_seconds=5), bench=BenchSettings(simulated=False))
    assert given.ddi.polling_seconds == 5 and given.bench.simulated is False


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _settings_variables():
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.ddi.polling_seconds == 60 and settings.ddi.gateway_token is None
    assert settings.ddi.token_grace_minutes == 1440 and settings.ddi.max_batch == 5000
    assert settings.bench.simulated is False


@pytest.mark.parametrize(("value", "on"), [("1", True), ("0", False), ("true", False), ("", False)])
def test_simulated_bench_in_production_only_with_exactly_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, on: bool
) -> None:
    from fleet.runs import bench

    monkeypatch.setenv("FLEET_SIMULATED_BENCH", value)
    assert bench.enabled(Settings(env="production", data_dir=tmp_path)) is on
    assert bench.enabled(Settings(env="development", data_dir=tmp_path)) is True
    monkeypatch.delenv("FLEET_SIMULATED_BENCH")
    assert bench.enabled(Settings(env="production", data_dir=tmp_path)) is False


def test_variable_names_come_from_the_settings() -> None:
    assert env_name("db_pool_size") == "FLEET_DB_POOL_SIZE"
    assert env_names("database_url") == ["FLEET_DATABASE_URL", "DATABASE_URL"]
    assert env_name("gateway_token", "ddi") == "FLEET_DDI_GATEWAY_TOKEN"
    assert env_name("simulated", "bench") == "FLEET_SIMULATED_BENCH"


def test_the_device_api_reads_the_ddi_section(tmp_path: Path) -> None:
    from fleet.app import create_app
    from fleet.state import app_state

    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
        ddi=DdiSettings(polling_seconds=17),
    )
    state = app_state(create_app(settings))
    assert state.device_api is settings.ddi
    assert state.settings is settings
