"""System configuration, JSON templates and translations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, func, true
from sqlalchemy.orm import Mapped, mapped_column

from fleet.models.base import Base, JSONType, UTCDateTime, utcnow


class Configuration(Base):
    __tablename__ = "configurations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config_key: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    config_value: Mapped[Any] = mapped_column(JSONType, nullable=False)
    component: Mapped[str | None] = mapped_column(String(50), index=True)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow, onupdate=utcnow
    )


class JsonTemplate(Base):
    __tablename__ = "json_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    template_type: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    category: Mapped[str | None] = mapped_column(String(100), index=True)
    # The seed names this column "schema"; the attribute avoids shadowing pydantic/ORM names.
    schema_: Mapped[Any] = mapped_column("schema", JSONType, nullable=False)
    default_values: Mapped[Any] = mapped_column(JSONType, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool | None] = mapped_column(
        Boolean, server_default=true(), default=True, index=True
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )


class Translation(Base):
    __tablename__ = "translations"
    __table_args__ = (Index("uq_translations_key_language", "key", "language", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    language: Mapped[str] = mapped_column(String(10), nullable=False, index=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    component: Mapped[str | None] = mapped_column(String(50), index=True)
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=func.now(), default=utcnow
    )
