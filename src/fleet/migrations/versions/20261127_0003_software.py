"""software roll-outs: rollouts, rollout_groups, rollout_targets; one device_software row per
device and software

Revision ID: 0003_software
Revises: 0001_initial
Create Date: 2026-11-27 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_software"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column(
            "target",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("group_size", sa.Integer(), nullable=False),
        sa.Column("success_threshold", sa.Integer(), nullable=False),
        sa.Column("error_threshold", sa.Integer(), nullable=False),
        sa.Column("current_group", sa.Integer(), nullable=False),
        sa.Column("total_devices", sa.Integer(), nullable=False),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_rollouts_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["software_versions.id"],
            name=op.f("fk_rollouts_version_id_software_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rollouts_version_id"), ["version_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rollouts_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_rollouts_created_by"), ["created_by"], unique=False)

    op.create_table(
        "rollout_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("device_count", sa.Integer(), nullable=False),
        sa.Column("completed_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("canceled_count", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_groups_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_groups")),
    )
    with op.batch_alter_table("rollout_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rollout_groups_rollout_id"), ["rollout_id"], unique=False
        )
        batch_op.create_index(
            "uq_rollout_groups_rollout_id_position", ["rollout_id", "position"], unique=True
        )

    op.create_table(
        "rollout_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.Integer(), nullable=True),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_targets_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["rollout_groups.id"],
            name=op.f("fk_rollout_targets_group_id_rollout_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_rollout_targets_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["software_installations.id"],
            name=op.f("fk_rollout_targets_installation_id_software_installations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_targets")),
        sa.UniqueConstraint("installation_id", name=op.f("uq_rollout_targets_installation_id")),
    )
    with op.batch_alter_table("rollout_targets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rollout_targets_rollout_id"), ["rollout_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_rollout_targets_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_rollout_targets_device_id"), ["device_id"], unique=False
        )
        batch_op.create_index(
            "uq_rollout_targets_rollout_id_device_id", ["rollout_id", "device_id"], unique=True
        )

    # The state machine keeps exactly one mapping row per device and software.
    with op.batch_alter_table("device_software", schema=None) as batch_op:
        batch_op.create_index(
            "uq_device_software_device_id_software_id", ["device_id", "software_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("device_software", schema=None) as batch_op:
        batch_op.drop_index("uq_device_software_device_id_software_id")
    op.drop_table("rollout_targets")
    op.drop_table("rollout_groups")
    op.drop_table("rollouts")
