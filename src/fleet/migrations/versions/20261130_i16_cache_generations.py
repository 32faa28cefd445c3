"""cache generations shared by every server process and host

The dashboard's short cache lives in each process; a change made through any process moves
the 'dashboard' generation in its own transaction, so no process answers a total older than
a committed change.

Revision ID: i16_cache_generations
Revises: 0006_merge_modules
Create Date: 2026-11-30 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i16_cache_generations"
down_revision: str | Sequence[str] | None = "0006_merge_modules"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cache_generations",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_generations")),
    )


def downgrade() -> None:
    op.drop_table("cache_generations")
