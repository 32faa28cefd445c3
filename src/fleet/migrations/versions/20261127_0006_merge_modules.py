"""merge the module branches into one line of history

The modules' first migrations were written side by side on top of the initial schema; this
revision joins them so the next migration has a single parent.

Revision ID: 0006_merge_modules
Revises: 0002_devices_api, 0003_fleet_data, 0003_software, 0004_config, 0005_runs
Create Date: 2026-11-27 20:10:00
"""

from collections.abc import Sequence

revision: str = "0006_merge_modules"
down_revision: str | Sequence[str] | None = (
    "0002_devices_api",
    "0003_fleet_data",
    "0003_software",
    "0004_config",
    "0005_runs",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to change: this revision only joins the branches."""
