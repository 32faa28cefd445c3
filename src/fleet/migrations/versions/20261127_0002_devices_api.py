"""device connectivity: device tokens, presence, attributes, telemetry, DDI actions

Revision ID: 0002_devices_api
Revises: 0001_initial
Create Date: 2026-11-27 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_devices_api"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "device_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_tokens_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_device_tokens_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_device_tokens_token_hash")),
    )
    with op.batch_alter_table("device_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_tokens_device_id"), ["device_id"])
        batch_op.create_index(batch_op.f("ix_device_tokens_created_by"), ["created_by"])

    op.create_table(
        "device_presence",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=True),
        sa.Column("online", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_presence_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_presence")),
    )
    with op.batch_alter_table("device_presence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_presence_last_seen"), ["last_seen"])
        batch_op.create_index(batch_op.f("ix_device_presence_online"), ["online"])

    op.create_table(
        "device_attributes",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_attributes_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_attributes")),
    )

    op.create_table(
        "telemetry_samples",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("t", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pressure_low", sa.Float(), nullable=True),
        sa.Column("pressure_high", sa.Float(), nullable=True),
        sa.Column("flow", sa.Float(), nullable=True),
        sa.Column("test_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_telemetry_samples_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["test_id"],
            ["test_reports.id"],
            name=op.f("fk_telemetry_samples_test_id_test_reports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telemetry_samples")),
    )
    with op.batch_alter_table("telemetry_samples", schema=None) as batch_op:
        batch_op.create_index("ix_telemetry_samples_device_id_t", ["device_id", "t"])
        batch_op.create_index(batch_op.f("ix_telemetry_samples_test_id"), ["test_id"])

    op.create_table(
        "artifact_hashes",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("file_path", sa.String(length=500), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sha1", sa.String(length=40), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["software_versions.id"],
            name=op.f("fk_artifact_hashes_version_id_software_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_artifact_hashes")),
    )

    op.create_table(
        "ddi_actions",
        sa.Column("installation_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancel_ack_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_result", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["installation_id"],
            ["software_installations.id"],
            name=op.f("fk_ddi_actions_installation_id_software_installations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_ddi_actions_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("installation_id", name=op.f("pk_ddi_actions")),
    )
    with op.batch_alter_table("ddi_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ddi_actions_device_id"), ["device_id"])


def downgrade() -> None:
    op.drop_table("ddi_actions")
    op.drop_table("artifact_hashes")
    op.drop_table("telemetry_samples")
    op.drop_table("device_attributes")
    op.drop_table("device_presence")
    op.drop_table("device_tokens")
