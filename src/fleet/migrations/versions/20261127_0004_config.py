"""config backups: the kept backups of the Fleet Config Manager

Revision ID: 0004_config
Revises: 0001_initial
Create Date: 2026-11-27 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_config"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "config_backups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backup_name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_config_backups_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_backups")),
    )
    with op.batch_alter_table("config_backups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_config_backups_backup_name"), ["backup_name"])
        batch_op.create_index(batch_op.f("ix_config_backups_kind"), ["kind"])
        batch_op.create_index(batch_op.f("ix_config_backups_created_by"), ["created_by"])
        batch_op.create_index(batch_op.f("ix_config_backups_created_at"), ["created_at"])


def downgrade() -> None:
    op.drop_table("config_backups")
