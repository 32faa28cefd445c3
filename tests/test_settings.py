"""Settings: database URL forms and the signing secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from fleet.settings import ConfigError, Settings, async_database_url, sync_database_url


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
