"""initial schema: the 14 seed tables and auth tables

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27 18:33:56.865565
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "contact_info",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_name"), ["name"], unique=False)

    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_failures_attempted_at"), ["attempted_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_login_failures_ip_address"), ["ip_address"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_login_failures_username"), ["username"], unique=False)

    op.create_table(
        "translations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("component", sa.String(length=50), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translations")),
    )
    with op.batch_alter_table("translations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_translations_component"), ["component"], unique=False)
        batch_op.create_index(batch_op.f("ix_translations_language"), ["language"], unique=False)
        batch_op.create_index("uq_translations_key_language", ["key", "language"], unique=True)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column(
            "roles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("qr_code", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("qr_code", name=op.f("uq_users_qr_code")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("active_role", sa.String(length=50), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=50), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_auth_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "configurations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config_key", sa.String(length=100), nullable=False),
        sa.Column(
            "config_value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("component", sa.String(length=50), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_configurations_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_configurations")),
        sa.UniqueConstraint("config_key", name=op.f("uq_configurations_config_key")),
    )
    with op.batch_alter_table("configurations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_configurations_component"), ["component"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_configurations_updated_by"), ["updated_by"], unique=False
        )

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_number", sa.String(length=100), nullable=False),
        sa.Column("device_type", sa.String(length=100), nullable=False),
        sa.Column("kind_of_device", sa.String(length=100), nullable=True),
        sa.Column("serial_number", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=50), server_default="active", nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column(
            "configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_devices_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("device_number", name=op.f("uq_devices_device_number")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_devices_device_type"), ["device_type"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_devices_kind_of_device"), ["kind_of_device"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_devices_serial_number"), ["serial_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_devices_status"), ["status"], unique=False)

    op.create_table(
        "json_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("template_type", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column(
            "schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "default_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_json_templates_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_json_templates")),
    )
    with op.batch_alter_table("json_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_json_templates_category"), ["category"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_json_templates_created_by"), ["created_by"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_json_templates_is_active"), ["is_active"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_json_templates_template_type"), ["template_type"], unique=False
        )

    op.create_table(
        "software",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("vendor", sa.String(length=255), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("platform", sa.String(length=100), nullable=True),
        sa.Column("license_type", sa.String(length=100), nullable=True),
        sa.Column("repository_url", sa.String(length=500), nullable=True),
        sa.Column("documentation_url", sa.String(length=500), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_software_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_software")),
    )
    with op.batch_alter_table("software", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_software_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_software_created_by"), ["created_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_software_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_software_platform"), ["platform"], unique=False)
        batch_op.create_index(batch_op.f("ix_software_vendor"), ["vendor"], unique=False)

    op.create_table(
        "system_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_level", sa.String(length=50), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=255), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column(
            "timestamp", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_system_logs_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_logs")),
    )
    with op.batch_alter_table("system_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_logs_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_system_logs_log_level"), ["log_level"], unique=False)
        batch_op.create_index(batch_op.f("ix_system_logs_timestamp"), ["timestamp"], unique=False)
        batch_op.create_index(batch_op.f("ix_system_logs_user_id"), ["user_id"], unique=False)

    op.create_table(
        "test_scenarios",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("device_type", sa.String(length=100), nullable=True),
        sa.Column(
            "test_flow",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_test_scenarios_created_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_scenarios")),
    )
    with op.batch_alter_table("test_scenarios", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_scenarios_created_by"), ["created_by"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_test_scenarios_device_type"), ["device_type"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_test_scenarios_is_active"), ["is_active"], unique=False
        )

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name=op.f("fk_refresh_tokens_session_id_auth_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refresh_tokens_session_id"), ["session_id"], unique=False
        )

    op.create_table(
        "software_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("software_id", sa.Integer(), nullable=True),
        sa.Column("version_number", sa.String(length=50), nullable=False),
        sa.Column("release_notes", sa.Text(), nullable=True),
        sa.Column("changelog", sa.Text(), nullable=True),
        sa.Column("file_path", sa.String(length=500), nullable=True),
        sa.Column("file_size", sa.Integer(), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.Column("download_url", sa.String(length=500), nullable=True),
        sa.Column("is_stable", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column("is_beta", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("requires_reboot", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column(
            "compatibility",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_software_versions_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["software_id"],
            ["software.id"],
            name=op.f("fk_software_versions_software_id_software"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_software_versions")),
    )
    with op.batch_alter_table("software_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_software_versions_created_by"), ["created_by"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_software_versions_software_id"), ["software_id"], unique=False
        )
        batch_op.create_index(
            "uq_software_versions_software_id_version_number",
            ["software_id", "version_number"],
            unique=True,
        )

    op.create_table(
        "test_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("test_scenario_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column(
            "results",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "pressure_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_test_reports_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_test_reports_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["users.id"], name=op.f("fk_test_reports_operator_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["test_scenario_id"],
            ["test_scenarios.id"],
            name=op.f("fk_test_reports_test_scenario_id_test_scenarios"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_reports")),
    )
    with op.batch_alter_table("test_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_reports_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_test_reports_device_id"), ["device_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_test_reports_operator_id"), ["operator_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_test_reports_start_time"), ["start_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_test_reports_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_test_reports_test_scenario_id"), ["test_scenario_id"], unique=False
        )

    op.create_table(
        "test_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        sa.Column("step_order", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "criteria",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("auto_test", sa.Boolean(), server_default=sa.false(), nullable=True),
        sa.Column("operator_participation", sa.Boolean(), server_default=sa.true(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["test_scenarios.id"],
            name=op.f("fk_test_steps_scenario_id_test_scenarios"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_test_steps")),
    )
    with op.batch_alter_table("test_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_test_steps_scenario_id"), ["scenario_id"], unique=False
        )

    op.create_table(
        "device_software",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("software_id", sa.Integer(), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("installed_version", sa.String(length=50), nullable=True),
        sa.Column(
            "installation_status",
            sa.String(length=50),
            server_default="not_installed",
            nullable=True,
        ),
        sa.Column("installation_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_software_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["software_id"], ["software.id"], name=op.f("fk_device_software_software_id_software")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["software_versions.id"],
            name=op.f("fk_device_software_version_id_software_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_software")),
    )
    with op.batch_alter_table("device_software", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_software_device_id"), ["device_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_software_installation_status"),
            ["installation_status"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_device_software_software_id"), ["software_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_software_version_id"), ["version_id"], unique=False
        )

    op.create_table(
        "software_installations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=50), server_default="pending", nullable=True),
        sa.Column("initiated_by", sa.Integer(), nullable=True),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("installation_log", sa.Text(), nullable=True),
        sa.Column("previous_version", sa.String(length=50), nullable=True),
        sa.Column("new_version", sa.String(length=50), nullable=True),
        sa.Column(
            "rollback_point",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_software_installations_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["initiated_by"],
            ["users.id"],
            name=op.f("fk_software_installations_initiated_by_users"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["software_versions.id"],
            name=op.f("fk_software_installations_version_id_software_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_software_installations")),
    )
    with op.batch_alter_table("software_installations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_software_installations_action"), ["action"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_software_installations_device_id"), ["device_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_software_installations_initiated_by"), ["initiated_by"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_software_installations_started_at"), ["started_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_software_installations_status"), ["status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_software_installations_version_id"), ["version_id"], unique=False
        )

    op.create_table(
        "device_due_dates",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("last_test_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("interval_months", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_due_dates_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["test_reports.id"],
            name=op.f("fk_device_due_dates_report_id_test_reports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_due_dates")),
    )
    with op.batch_alter_table("device_due_dates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_due_dates_next_due_at"), ["next_due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_device_due_dates_report_id"), ["report_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("device_due_dates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_due_dates_report_id"))
        batch_op.drop_index(batch_op.f("ix_device_due_dates_next_due_at"))

    op.drop_table("device_due_dates")

    with op.batch_alter_table("software_installations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_software_installations_version_id"))
        batch_op.drop_index(batch_op.f("ix_software_installations_status"))
        batch_op.drop_index(batch_op.f("ix_software_installations_started_at"))
        batch_op.drop_index(batch_op.f("ix_software_installations_initiated_by"))
        batch_op.drop_index(batch_op.f("ix_software_installations_device_id"))
        batch_op.drop_index(batch_op.f("ix_software_installations_action"))

    op.drop_table("software_installations")
    with op.batch_alter_table("device_software", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_software_version_id"))
        batch_op.drop_index(batch_op.f("ix_device_software_software_id"))
        batch_op.drop_index(batch_op.f("ix_device_software_installation_status"))
        batch_op.drop_index(batch_op.f("ix_device_software_device_id"))

    op.drop_table("device_software")
    with op.batch_alter_table("test_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_steps_scenario_id"))

    op.drop_table("test_steps")
    with op.batch_alter_table("test_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_reports_test_scenario_id"))
        batch_op.drop_index(batch_op.f("ix_test_reports_status"))
        batch_op.drop_index(batch_op.f("ix_test_reports_start_time"))
        batch_op.drop_index(batch_op.f("ix_test_reports_operator_id"))
        batch_op.drop_index(batch_op.f("ix_test_reports_device_id"))
        batch_op.drop_index(batch_op.f("ix_test_reports_customer_id"))

    op.drop_table("test_reports")
    with op.batch_alter_table("software_versions", schema=None) as batch_op:
        batch_op.drop_index("uq_software_versions_software_id_version_number")
        batch_op.drop_index(batch_op.f("ix_software_versions_software_id"))
        batch_op.drop_index(batch_op.f("ix_software_versions_created_by"))

    op.drop_table("software_versions")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_session_id"))

    op.drop_table("refresh_tokens")
    with op.batch_alter_table("test_scenarios", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_test_scenarios_is_active"))
        batch_op.drop_index(batch_op.f("ix_test_scenarios_device_type"))
        batch_op.drop_index(batch_op.f("ix_test_scenarios_created_by"))

    op.drop_table("test_scenarios")
    with op.batch_alter_table("system_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_logs_user_id"))
        batch_op.drop_index(batch_op.f("ix_system_logs_timestamp"))
        batch_op.drop_index(batch_op.f("ix_system_logs_log_level"))
        batch_op.drop_index(batch_op.f("ix_system_logs_action"))

    op.drop_table("system_logs")
    with op.batch_alter_table("software", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_software_vendor"))
        batch_op.drop_index(batch_op.f("ix_software_platform"))
        batch_op.drop_index(batch_op.f("ix_software_name"))
        batch_op.drop_index(batch_op.f("ix_software_created_by"))
        batch_op.drop_index(batch_op.f("ix_software_category"))

    op.drop_table("software")
    with op.batch_alter_table("json_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_json_templates_template_type"))
        batch_op.drop_index(batch_op.f("ix_json_templates_is_active"))
        batch_op.drop_index(batch_op.f("ix_json_templates_created_by"))
        batch_op.drop_index(batch_op.f("ix_json_templates_category"))

    op.drop_table("json_templates")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_status"))
        batch_op.drop_index(batch_op.f("ix_devices_serial_number"))
        batch_op.drop_index(batch_op.f("ix_devices_kind_of_device"))
        batch_op.drop_index(batch_op.f("ix_devices_device_type"))
        batch_op.drop_index(batch_op.f("ix_devices_customer_id"))

    op.drop_table("devices")
    with op.batch_alter_table("configurations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_configurations_updated_by"))
        batch_op.drop_index(batch_op.f("ix_configurations_component"))

    op.drop_table("configurations")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_user_id"))

    op.drop_table("auth_sessions")
    op.drop_table("users")
    with op.batch_alter_table("translations", schema=None) as batch_op:
        batch_op.drop_index("uq_translations_key_language")
        batch_op.drop_index(batch_op.f("ix_translations_language"))
        batch_op.drop_index(batch_op.f("ix_translations_component"))

    op.drop_table("translations")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_username"))
        batch_op.drop_index(batch_op.f("ix_login_failures_ip_address"))
        batch_op.drop_index(batch_op.f("ix_login_failures_attempted_at"))

    op.drop_table("login_failures")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_name"))

    op.drop_table("customers")
