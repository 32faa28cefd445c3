"""runs: report seals, step attachments, one running test per device, report list indexes

Revision ID: 0005_runs
Revises: 0001_initial
Create Date: 2026-11-27 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_runs"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "test_report_seals",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["test_reports.id"],
            name=op.f("fk_test_report_seals_report_id_test_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_test_report_seals")),
    )
    with op.batch_alter_table("test_report_seals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_test_report_seals_sha256"), ["sha256"], unique=False)

    op.create_table(
        "test_step_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("step_order", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["test_reports.id"],
            name=op.f("fk_test_step_attachments_report_id_test_reports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_test_step_attachments_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_step_attachments")),
    )
    with op.batch_alter_table("test_step_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_step_attachments_report_id"), ["report_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_test_step_attachments_uploaded_by"), ["uploaded_by"], unique=False
        )

    with op.batch_alter_table("test_reports", schema=None) as batch_op:
        # One device runs one test at a time, enforced by the database under concurrency.
        batch_op.create_index(
            "uq_test_reports_device_in_progress",
            ["device_id"],
            unique=True,
            sqlite_where=sa.text("status = 'in_progress'"),
            postgresql_where=sa.text("status = 'in_progress'"),
        )
        # The report list is newest first; each filter has a matching (filter, time) index.
        batch_op.create_index("ix_test_reports_start_time_id", ["start_time", "id"])
        batch_op.create_index("ix_test_reports_operator_start", ["operator_id", "start_time"])
        batch_op.create_index("ix_test_reports_device_start", ["device_id", "start_time"])
        batch_op.create_index("ix_test_reports_customer_start", ["customer_id", "start_time"])
        batch_op.create_index("ix_test_reports_scenario_start", ["test_scenario_id", "start_time"])
        batch_op.create_index("ix_test_reports_status_start", ["status", "start_time"])


def downgrade() -> None:
    with op.batch_alter_table("test_reports", schema=None) as batch_op:
        for name in (
            "ix_test_reports_status_start",
            "ix_test_reports_scenario_start",
            "ix_test_reports_customer_start",
            "ix_test_reports_device_start",
            "ix_test_reports_operator_start",
            "ix_test_reports_start_time_id",
            "uq_test_reports_device_in_progress",
        ):
            batch_op.drop_index(name)
    with op.batch_alter_table("test_step_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_step_attachments_uploaded_by"))
        batch_op.drop_index(batch_op.f("ix_test_step_attachments_report_id"))
    op.drop_table("test_step_attachments")
    with op.batch_alter_table("test_report_seals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_report_seals_sha256"))
    op.drop_table("test_report_seals")
