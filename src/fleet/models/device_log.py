"""Which audit-log rows concern which device, so a device's history is one indexed lookup."""

from __future__ import annotations

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from fleet.models.base import Base


class DeviceLogEntry(Base):
    """Links a ``system_logs`` row to a device it describes (an import row names many)."""

    __tablename__ = "device_log_entries"

    log_id: Mapped[int] = mapped_column(
        ForeignKey("system_logs.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True, index=True
    )
