"""Shared generation counters: how every server process (and host) learns that a cache of
another one went stale."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from fleet.models.base import Base


class CacheGeneration(Base):
    """One row per cache; its value moves in the transaction of every change the cache shows."""

    __tablename__ = "cache_generations"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
