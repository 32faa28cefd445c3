"""Customers and devices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from fleet.models.base import Base, JSONType, UTCDateTime, utcnow


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    contact_info: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow
    )


class Device(Base):
    __tablename__ = "devices"
    # Dashboard totals and the type+status filter answer from this index alone.
    __table_args__ = (
        Index("ix_devices_status_type_customer", "status", "device_type", "customer_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_number: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    device_type: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    kind_of_device: Mapped[str | None] = mapped_column(String(100), index=True)
    serial_number: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str | None] = mapped_column(
        String(50), server_default="active", default="active", index=True
    )
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    configuration: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )


class DeviceDueDate(Base):
    """When each device was last tested and when its next test is due (kept by test completion)."""

    __tablename__ = "device_due_dates"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    last_test_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_reports.id", ondelete="SET NULL"), index=True
    )
    interval_months: Mapped[int] = mapped_column(Integer, nullable=False)
