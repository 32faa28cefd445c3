"""Software catalog, versions, installations and the device-software mapping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.models.base import Base, JSONType, UTCDateTime, utcnow


class Software(Base):
    __tablename__ = "software"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    description: Mapped[str | None] = mapped_column(Text)
    vendor: Mapped[str | None] = mapped_column(String(255), index=True)
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    platform: Mapped[str | None] = mapped_column(String(100), index=True)
    license_type: Mapped[str | None] = mapped_column(String(100))
    repository_url: Mapped[str | None] = mapped_column(String(500))
    documentation_url: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=true(), default=True)
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    versions: Mapped[list[SoftwareVersion]] = relationship(
        back_populates="software", cascade="all, delete-orphan", passive_deletes=True
    )


class SoftwareVersion(Base):
    __tablename__ = "software_versions"
    __table_args__ = (
        Index(
            "uq_software_versions_software_id_version_number",
            "software_id",
            "version_number",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    software_id: Mapped[int | None] = mapped_column(
        ForeignKey("software.id", ondelete="CASCADE"), index=True
    )
    version_number: Mapped[str] = mapped_column(String(50), nullable=False)
    release_notes: Mapped[str | None] = mapped_column(Text)
    changelog: Mapped[str | None] = mapped_column(Text)
    file_path: Mapped[str | None] = mapped_column(String(500))
    file_size: Mapped[int | None] = mapped_column(Integer)
    checksum: Mapped[str | None] = mapped_column(String(64))
    download_url: Mapped[str | None] = mapped_column(String(500))
    is_stable: Mapped[bool | None] = mapped_column(Boolean, server_default=true(), default=True)
    is_beta: Mapped[bool | None] = mapped_column(Boolean, server_default=false(), default=False)
    requires_reboot: Mapped[bool | None] = mapped_column(
        Boolean, server_default=false(), default=False
    )
    compatibility: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow
    )
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    software: Mapped[Software | None] = relationship(back_populates="versions")


class SoftwareInstallation(Base):
    __tablename__ = "software_installations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("software_versions.id"), index=True)
    action: Mapped[str] = mapped_column(String(50), nullable=False, index=True)
    status: Mapped[str | None] = mapped_column(
        String(50), server_default="pending", default="pending", index=True
    )
    initiated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    started_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow, index=True
    )
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_message: Mapped[str | None] = mapped_column(Text)
    installation_log: Mapped[str | None] = mapped_column(Text)
    previous_version: Mapped[str | None] = mapped_column(String(50))
    new_version: Mapped[str | None] = mapped_column(String(50))
    rollback_point: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class DeviceSoftware(Base):
    __tablename__ = "device_software"
    __table_args__ = (
        Index("uq_device_software_device_id_software_id", "device_id", "software_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    software_id: Mapped[int | None] = mapped_column(ForeignKey("software.id"), index=True)
    version_id: Mapped[int | None] = mapped_column(ForeignKey("software_versions.id"), index=True)
    installed_version: Mapped[str | None] = mapped_column(String(50))
    installation_status: Mapped[str | None] = mapped_column(
        String(50), server_default="not_installed", default="not_installed", index=True
    )
    installation_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_updated: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )
    configuration: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    notes: Mapped[str | None] = mapped_column(Text)
