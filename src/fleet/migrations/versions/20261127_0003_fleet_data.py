"""fleet data: device_log_entries links audit rows to the devices they describe; devices indexes
for the dashboard and (PostgreSQL) substring search

Revision ID: 0003_fleet_data
Revises: 0001_initial
Create Date: 2026-11-27 18:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_fleet_data"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_log_entries",
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["log_id"],
            ["system_logs.id"],
            name=op.f("fk_device_log_entries_log_id_system_logs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_log_entries_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("log_id", "device_id", name=op.f("pk_device_log_entries")),
    )
    with op.batch_alter_table("device_log_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_log_entries_device_id"), ["device_id"], unique=False
        )
    # Covers the dashboard's totals and the common type+status device filter (index-only scans).
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_devices_status_type_customer",
            ["status", "device_type", "customer_id"],
            unique=False,
        )

    _trigram_indexes()


def _trigram_indexes() -> None:
    """On PostgreSQL, index device and serial numbers for substring search (``q``) with pg_trgm.

    Skipped, not failed, where the extension cannot be created (no privilege): search then
    scans the table, which is correct, only slower.
    """
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        return
    for column in ("device_number", "serial_number"):
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_devices_{column}_trgm ON devices "
            f"USING gin (lower({column}) gin_trgm_ops)"
        )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_devices_device_number_trgm")
    op.execute("DROP INDEX IF EXISTS ix_devices_serial_number_trgm")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index("ix_devices_status_type_customer")
    with op.batch_alter_table("device_log_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_log_entries_device_id"))
    op.drop_table("device_log_entries")
