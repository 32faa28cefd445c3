"""Device-side tables: device credentials, presence, telemetry, reported attributes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from fleet import dialect
from fleet.models.base import Base, JSONType, UTCDateTime, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = dialect.BigId


class DeviceToken(Base):
    """A device credential (``Authorization: TargetToken ...``), stored as a SHA-256 digest."""

    __tablename__ = "device_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Set when a newer token replaces this one: it keeps working until then (rotation grace).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DevicePresence(Base):
    """When and from where each device last polled, and the status last announced for it."""

    __tablename__ = "device_presence"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    address: Mapped[str | None] = mapped_column(String(45))
    online: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=false(), default=False, index=True
    )


class DeviceAttributes(Base):
    """The attributes a device reported through DDI ``configData`` (serial, hardware, firmware)."""

    __tablename__ = "device_attributes"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class TelemetrySample(Base):
    """One sensor sample a device streamed (pressures in mbar / bar, flow in l/min)."""

    __tablename__ = "telemetry_samples"
    __table_args__ = (Index("ix_telemetry_samples_device_id_t", "device_id", "t"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
    )
    t: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    pressure_low: Mapped[float | None] = mapped_column(Float)
    pressure_high: Mapped[float | None] = mapped_column(Float)
    flow: Mapped[float | None] = mapped_column(Float)
    test_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_reports.id", ondelete="SET NULL"), index=True
    )


class ArtifactHashes(Base):
    """SHA-1 and MD5 of a version's artifact file, computed once (DDI clients verify them)."""

    __tablename__ = "artifact_hashes"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("software_versions.id", ondelete="CASCADE"), primary_key=True
    )
    file_path: Mapped[str] = mapped_column(String(500), nullable=False)
    file_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    sha1: Mapped[str] = mapped_column(String(40), nullable=False)
    md5: Mapped[str] = mapped_column(String(32), nullable=False)


class DdiAction(Base):
    """What a device was told about an installation over DDI (delivery, cancel acknowledgement)."""

    __tablename__ = "ddi_actions"

    installation_id: Mapped[int] = mapped_column(
        ForeignKey("software_installations.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True
    )
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    cancel_ack_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_result: Mapped[str | None] = mapped_column(String(20))


class DdiActionStatus(Base):
    """One status report of a device about an action, as hawkBit keeps it in the action history:
    the DDI ``execution`` and ``result.finished``, the device's ``code`` and ``details``."""

    __tablename__ = "ddi_action_statuses"
    __table_args__ = (Index("ix_ddi_action_statuses_installation_id_id", "installation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    installation_id: Mapped[int] = mapped_column(
        ForeignKey("software_installations.id", ondelete="CASCADE"), nullable=False
    )
    # deployment (deploymentBase feedback), cancel (cancelAction feedback), confirmation
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    execution: Mapped[str] = mapped_column(String(20), nullable=False)
    finished: Mapped[str | None] = mapped_column(String(10))
    code: Mapped[int | None] = mapped_column(BigInteger)
    progress_cnt: Mapped[int | None] = mapped_column(BigInteger)
    progress_of: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[list[str] | None] = mapped_column(JSONType)


class InstallationOptions(Base):
    """How an installation reaches the device over DDI (hawkBit's action type, maintenance window
    and user confirmation); an installation without a row is ``forced``, no window, no
    confirmation. Kept apart so the customer's ``software_installations`` table stays as it is."""

    __tablename__ = "installation_options"

    installation_id: Mapped[int] = mapped_column(
        ForeignKey("software_installations.id", ondelete="CASCADE"), primary_key=True
    )
    update_type: Mapped[str] = mapped_column(String(20), nullable=False, default="forced")
    window_schedule: Mapped[str | None] = mapped_column(String(120))
    window_duration: Mapped[str | None] = mapped_column(String(8))
    window_timezone: Mapped[str | None] = mapped_column(String(6))
    confirmation_required: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=false(), default=False
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RolloutOptions(Base):
    """The same options for every installation a roll-out creates."""

    __tablename__ = "rollout_options"

    rollout_id: Mapped[int] = mapped_column(
        ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True
    )
    update_type: Mapped[str] = mapped_column(String(20), nullable=False, default="forced")
    window_schedule: Mapped[str | None] = mapped_column(String(120))
    window_duration: Mapped[str | None] = mapped_column(String(8))
    window_timezone: Mapped[str | None] = mapped_column(String(6))
    confirmation_required: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=false(), default=False
    )


class DeviceAutoConfirm(Base):
    """A device that confirms every action by itself (DDI ``activateAutoConfirm``)."""

    __tablename__ = "device_auto_confirm"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    initiator: Mapped[str | None] = mapped_column(String(128))
    remark: Mapped[str | None] = mapped_column(String(512))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
