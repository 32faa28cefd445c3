"""Stored configuration backups (Fleet Config Manager)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from fleet.models.base import Base, JSONType, UTCDateTime, utcnow


class ConfigBackup(Base):
    """One kept backup of the configuration set, with the SHA-256 of its canonical JSON."""

    __tablename__ = "config_backups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backup_name: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    # manual (given by a client), snapshot (taken by the server), pre_restore (automatic)
    kind: Mapped[str] = mapped_column(String(20), nullable=False, default="snapshot", index=True)
    data: Mapped[Any] = mapped_column(JSONType, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow, nullable=False, index=True
    )
