"""runs: when each running test was last touched, for the idle sweep

Revision ID: i17_test_activity
Revises: i18_workshop
Create Date: 2026-11-30 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i17_test_activity"
down_revision: str | Sequence[str] | None = "i18_workshop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "test_report_activity",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["test_reports.id"],
            name=op.f("fk_test_report_activity_report_id_test_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_test_report_activity")),
    )
    with op.batch_alter_table("test_report_activity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_report_activity_last_activity_at"),
            ["last_activity_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("test_report_activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_report_activity_last_activity_at"))
    op.drop_table("test_report_activity")
