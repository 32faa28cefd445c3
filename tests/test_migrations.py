"""Migrations and models agree, and history has one head (so `fleet db revision` works)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

import fleet.models  # noqa: F401  (registers every table)
from fleet.migrate import alembic_config, include_object
from fleet.models.base import Base
from fleet.settings import Settings, sync_database_url


def test_migrated_schema_matches_the_models(settings: Settings) -> None:
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_history_has_a_single_head(settings: Settings) -> None:
    heads = ScriptDirectory.from_config(alembic_config(settings)).get_heads()
    assert len(heads) == 1, heads
