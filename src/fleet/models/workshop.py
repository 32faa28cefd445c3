"""Fleet Workshop Manager: repair orders, parts and stock, interval and life rules, component
clocks, the derived due dates, test outcomes for statistics and the reminders sent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from fleet.models.base import Base, JSONType, UTCDateTime, utcnow


class WorkshopItem(Base):
    """Workshop facts of one device that the seed's ``devices`` table does not hold."""

    __tablename__ = "workshop_items"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    manufactured_on: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )


class WorkshopUse(Base):
    """One recorded use of an item (after-use rules count from it)."""

    __tablename__ = "workshop_uses"
    __table_args__ = (Index("ix_workshop_uses_device_used", "device_id", "used_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
    )
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    note: Mapped[str | None] = mapped_column(String(500))
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)


class WorkshopPart(Base):
    """A catalog part: which device types or kinds it fits, its life, its component clock."""

    __tablename__ = "workshop_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    part_number: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    fits: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    life_months: Mapped[int | None] = mapped_column(Integer)
    component: Mapped[str | None] = mapped_column(String(100), index=True)
    low_stock_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=true(), default=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, server_default=func.now(), default=utcnow
    )


class WorkshopStockLot(Base):
    """Stock of one part per lot; the database refuses a negative quantity."""

    __tablename__ = "workshop_stock_lots"
    __table_args__ = (
        UniqueConstraint("part_id", "lot_number", name="uq_workshop_stock_lots_part_lot"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    part_id: Mapped[int] = mapped_column(
        ForeignKey("workshop_parts.id"), nullable=False, index=True
    )
    lot_number: Mapped[str] = mapped_column(String(100), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class WorkshopStockReceipt(Base):
    """Goods received into a lot."""

    __tablename__ = "workshop_stock_receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lot_id: Mapped[int] = mapped_column(
        ForeignKey("workshop_stock_lots.id"), nullable=False, index=True
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str | None] = mapped_column(String(500))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    received_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)


class WorkshopRepairOrder(Base):
    """A repair of one item: proposed -> open -> in_progress -> done | canceled."""

    __tablename__ = "workshop_repair_orders"
    __table_args__ = (Index("ix_workshop_repair_orders_device_state", "device_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    origin: Mapped[str] = mapped_column(String(20), nullable=False, default="manual")
    trigger_report_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_reports.id", ondelete="SET NULL"), unique=True
    )
    release_report_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_reports.id", ondelete="SET NULL"), index=True
    )
    failed_steps: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, nullable=False, default=list
    )
    findings: Mapped[str | None] = mapped_column(Text)
    work_done: Mapped[str | None] = mapped_column(Text)
    technician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    time_spent_minutes: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )


class WorkshopPartUsage(Base):
    """A part consumed by a repair order, from a lot, optionally with its serial number."""

    __tablename__ = "workshop_part_usages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("workshop_repair_orders.id"), nullable=False, index=True
    )
    part_id: Mapped[int] = mapped_column(
        ForeignKey("workshop_parts.id"), nullable=False, index=True
    )
    lot_id: Mapped[int] = mapped_column(
        ForeignKey("workshop_stock_lots.id"), nullable=False, index=True
    )
    serial_number: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)


class WorkshopIntervalRule(Base):
    """A test interval and/or life limit for a device type / kind (or one of its components)."""

    __tablename__ = "workshop_interval_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    device_type: Mapped[str | None] = mapped_column(String(100), index=True)
    kind_of_device: Mapped[str | None] = mapped_column(String(100), index=True)
    component: Mapped[str | None] = mapped_column(String(100))
    kind_of_test: Mapped[str] = mapped_column(String(100), nullable=False)
    # other kinds of test that also satisfy this rule (e.g. a yearly test covers the half-yearly)
    tests_accepted: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    interval_months: Mapped[int | None] = mapped_column(Integer)
    after_each_use: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)
    life_limit_months: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    source_text: Mapped[str] = mapped_column(Text, nullable=False)
    is_active: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=true(), default=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow
    )


class WorkshopComponentClock(Base):
    """A component fitted on an item on a date; the current one has no ``removed_at``."""

    __tablename__ = "workshop_component_clocks"
    __table_args__ = (
        Index("ix_workshop_component_clocks_device_component", "device_id", "component"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
    )
    component: Mapped[str] = mapped_column(String(100), nullable=False)
    fitted_on: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    part_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_parts.id"), index=True)
    usage_id: Mapped[int | None] = mapped_column(ForeignKey("workshop_part_usages.id"), index=True)


class WorkshopDue(Base):
    """What falls due on an item or a component, recomputed by the engine on every event."""

    __tablename__ = "workshop_due"
    __table_args__ = (
        UniqueConstraint(
            "device_id", "component", "kind_of_test", name="uq_workshop_due_device_component_kind"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
    )
    component: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    kind_of_test: Mapped[str] = mapped_column(String(100), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    effect: Mapped[str] = mapped_column(String(10), nullable=False)
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("workshop_interval_rules.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(Text, nullable=False)


class WorkshopTestOutcome(Base):
    """One finished test, flattened for readiness and statistics (written when it finishes)."""

    __tablename__ = "workshop_test_outcomes"
    __table_args__ = (
        Index("ix_workshop_test_outcomes_device_tested", "device_id", "tested_at"),
        Index("ix_workshop_test_outcomes_tested_failed", "tested_at", "failed"),
    )

    report_id: Mapped[int] = mapped_column(
        ForeignKey("test_reports.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False
    )
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    device_type: Mapped[str] = mapped_column(String(100), nullable=False)
    kind_of_device: Mapped[str | None] = mapped_column(String(100))
    kind_of_test: Mapped[str | None] = mapped_column(String(100))
    tested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    failed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    gap_days: Mapped[float | None] = mapped_column(Float)


class WorkshopStepOutcome(Base):
    """One recorded step of a finished test (statistics by step)."""

    __tablename__ = "workshop_step_outcomes"
    __table_args__ = (Index("ix_workshop_step_outcomes_tested_step", "tested_at", "step_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("workshop_test_outcomes.report_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    step_name: Mapped[str] = mapped_column(String(255), nullable=False)
    tested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    failed: Mapped[bool] = mapped_column(Boolean, nullable=False)


class WorkshopStatDay(Base):
    """Tests and failures of one statistics dimension and key (device type, kind of device,
    customer, step) per UTC day (span ``d``) and per month (span ``m``, day = the 1st):
    statistics sum whole months plus the days at the edges, never the tests themselves."""

    __tablename__ = "workshop_stat_days"
    __table_args__ = (
        Index("ix_workshop_stat_days_dimension_span_day", "dimension", "span", "day"),
    )

    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tests: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    gap_sum: Mapped[float] = mapped_column(Float, nullable=False, default=0)
    gap_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class WorkshopReminder(Base):
    """One due item told to one recipient; never told twice for the same due date."""

    __tablename__ = "workshop_reminders"
    __table_args__ = (
        UniqueConstraint(
            "device_id",
            "component",
            "kind_of_test",
            "due_at",
            "recipient",
            name="uq_workshop_reminders_once",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), nullable=False, index=True
    )
    component: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    kind_of_test: Mapped[str] = mapped_column(String(100), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recipient: Mapped[str] = mapped_column(String(255), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
