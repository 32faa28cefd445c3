"""Programmatic Alembic: the schema is only ever made by migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from fleet.dialect import url_is_sqlite
from fleet.settings import Settings, sync_database_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings) -> Config:
    """Build an Alembic config pointing at the packaged migrations and the configured database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    url = sync_database_url(settings.resolved_database_url())
    cfg.set_main_option(
        "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
    )
    if url_is_sqlite(url) and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return cfg


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (the newest by default)."""
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Migrate the database down to ``revision``."""
    command.downgrade(alembic_config(settings), revision)


def revision(settings: Settings, message: str, autogenerate: bool = True) -> None:
    """Write a new migration file into the packaged versions folder."""
    command.revision(alembic_config(settings), message=message, autogenerate=autogenerate)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Tell autogenerate what to compare: optional PostgreSQL-only trigram search indexes
    (created only where the pg_trgm extension may be installed) are not part of the models."""
    return not (type_ == "index" and reflected and (name or "").endswith("_trgm"))
