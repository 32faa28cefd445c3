"""Test scenarios, their legacy step rows and test reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, false, func, true
from sqlalchemy.orm import Mapped, mapped_column

from fleet import dialect
from fleet.models.base import Base, JSONType, UTCDateTime, utcnow


class TestScenario(Base):
    __tablename__ = "test_scenarios"
    __test__ = False  # not a pytest class

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    device_type: Mapped[str | None] = mapped_column(String(100), index=True)
    test_flow: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    is_active: Mapped[bool | None] = mapped_column(
        Boolean, server_default=true(), default=True, index=True
    )
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )


class TestStep(Base):
    __tablename__ = "test_steps"
    __test__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int | None] = mapped_column(ForeignKey("test_scenarios.id"), index=True)
    step_order: Mapped[int] = mapped_column(Integer, nullable=False)
    step_name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    criteria: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    auto_test: Mapped[bool | None] = mapped_column(Boolean, server_default=false(), default=False)
    operator_participation: Mapped[bool | None] = mapped_column(
        Boolean, server_default=true(), default=True
    )
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow
    )


class TestReport(Base):
    __tablename__ = "test_reports"
    __test__ = False
    __table_args__ = (
        # One running test per device, enforced by the database even for simultaneous starts.
        Index(
            "uq_test_reports_device_in_progress",
            "device_id",
            unique=True,
            **dialect.partial_index("status = 'in_progress'"),
        ),
        # The report list is newest first; each filter has a matching (filter, time) index.
        Index("ix_test_reports_start_time_id", "start_time", "id"),
        Index("ix_test_reports_operator_start", "operator_id", "start_time"),
        Index("ix_test_reports_device_start", "device_id", "start_time"),
        Index("ix_test_reports_customer_start", "customer_id", "start_time"),
        Index("ix_test_reports_scenario_start", "test_scenario_id", "start_time"),
        Index("ix_test_reports_status_start", "status", "start_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    test_scenario_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_scenarios.id"), index=True
    )
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    start_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str | None] = mapped_column(String(50), index=True)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    pressure_data: Mapped[Any] = mapped_column(JSONType, nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow
    )
