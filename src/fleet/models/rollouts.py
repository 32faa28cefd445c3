"""Staged roll-outs: one version deployed to a target set of devices, group after group."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from fleet.models.base import Base, JSONType, UTCDateTime, utcnow


class Rollout(Base):
    """A roll-out; its whole state lives here so it survives a restart."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("software_versions.id"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="draft", index=True)
    target: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    group_size: Mapped[int] = mapped_column(Integer, nullable=False)
    success_threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    error_threshold: Mapped[int] = mapped_column(Integer, nullable=False)
    current_group: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_devices: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow, nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )


class RolloutGroup(Base):
    """One group of a roll-out with running counters of its installations' outcomes."""

    __tablename__ = "rollout_groups"
    __table_args__ = (
        Index("uq_rollout_groups_rollout_id_position", "rollout_id", "position", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[int] = mapped_column(
        ForeignKey("rollouts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="waiting")
    device_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    completed_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    canceled_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RolloutTarget(Base):
    """One device of a roll-out, its group and (once its group started) its installation."""

    __tablename__ = "rollout_targets"
    __table_args__ = (
        Index("uq_rollout_targets_rollout_id_device_id", "rollout_id", "device_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rollout_id: Mapped[int] = mapped_column(
        ForeignKey("rollouts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("rollout_groups.id", ondelete="CASCADE"), nullable=False, index=True
    )
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), nullable=False, index=True)
    installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("software_installations.id"), unique=True
    )
    skip_reason: Mapped[str | None] = mapped_column(Text)
