"""hawkBit DDI conformance: action status history, installation and roll-out options
(action type, maintenance window, confirmation), devices' auto-confirmation

Revision ID: i14_ddi_conformance
Revises: i17_test_activity
Create Date: 2026-11-30 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i14_ddi_conformance"
down_revision: str | Sequence[str] | None = "i17_test_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _option_columns() -> list[sa.Column]:  # type: ignore[type-arg,unused-ignore]
    return [
        sa.Column("update_type", sa.String(length=20), nullable=False),
        sa.Column("window_schedule", sa.String(length=120), nullable=True),
        sa.Column("window_duration", sa.String(length=8), nullable=True),
        sa.Column("window_timezone", sa.String(length=6), nullable=True),
        sa.Column("confirmation_required", sa.Boolean(), server_default=sa.false(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "ddi_action_statuses",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("execution", sa.String(length=20), nullable=False),
        sa.Column("finished", sa.String(length=10), nullable=True),
        sa.Column("code", sa.BigInteger(), nullable=True),
        sa.Column("progress_cnt", sa.BigInteger(), nullable=True),
        sa.Column("progress_of", sa.BigInteger(), nullable=True),
        sa.Column("details", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["software_installations.id"],
            name=op.f("fk_ddi_action_statuses_installation_id_software_installations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ddi_action_statuses")),
    )
    with op.batch_alter_table("ddi_action_statuses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ddi_action_statuses_installation_id_id", ["installation_id", "id"]
        )

    op.create_table(
        "installation_options",
        sa.Column("installation_id", sa.Integer(), nullable=False),
        *_option_columns(),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["software_installations.id"],
            name=op.f("fk_installation_options_installation_id_software_installations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_installation_options")),
    )
    op.create_table(
        "rollout_options",
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        *_option_columns(),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_options_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rollout_id", name=op.f("pk_rollout_options")),
    )
    op.create_table(
        "device_auto_confirm",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("initiator", sa.String(length=128), nullable=True),
        sa.Column("remark", sa.String(length=512), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_auto_confirm_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_auto_confirm")),
    )


def downgrade() -> None:
    op.drop_table("device_auto_confirm")
    op.drop_table("rollout_options")
    op.drop_table("installation_options")
    with op.batch_alter_table("ddi_action_statuses", schema=None) as batch_op:
        batch_op.drop_index("ix_ddi_action_statuses_installation_id_id")
    op.drop_table("ddi_action_statuses")
