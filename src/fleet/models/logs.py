"""The audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from fleet.models.base import Base, JSONType, UTCDateTime, utcnow


class SystemLog(Base):
    __tablename__ = "system_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_level: Mapped[str | None] = mapped_column(String(50), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str | None] = mapped_column(String(255), index=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    timestamp: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow, index=True
    )
