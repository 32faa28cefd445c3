"""Tables of test execution beyond the seed: report seals and step photo attachments."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleet.models.base import Base, UTCDateTime, utcnow


class TestReportSeal(Base):
    """The SHA-256 of a finished report's canonical content, printed on its PDF."""

    __tablename__ = "test_report_seals"
    __test__ = False

    report_id: Mapped[int] = mapped_column(
        ForeignKey("test_reports.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class TestStepAttachment(Base):
    """A photo an operator attached to a step result."""

    __tablename__ = "test_step_attachments"
    __test__ = False

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("test_reports.id", ondelete="CASCADE"), nullable=False, index=True
    )
    step_order: Mapped[int] = mapped_column(Integer, nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    notes: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class TestReportActivity(Base):
    """When a running test was last touched (start, a step, samples, a photo, a resume); the
    idle sweep closes a test untouched for longer than ``FLEET_TEST_IDLE_TIMEOUT_MINUTES``."""

    __tablename__ = "test_report_activity"
    __test__ = False

    report_id: Mapped[int] = mapped_column(
        ForeignKey("test_reports.id", ondelete="CASCADE"), primary_key=True
    )
    last_activity_at: Mapped[datetime] = mapped_column(
        UTCDateTime, nullable=False, default=utcnow, index=True
    )
