"""Bodies of the audit log API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_DETAILS_BYTES = 16_384


class LogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    log_level: str | None
    user_id: int | None
    username: str | None = None
    action: str | None
    details: dict[str, Any] | None
    ip_address: str | None
    timestamp: datetime | None


class LogCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    log_level: Literal["INFO", "WARNING", "ERROR", "HELP"] = "INFO"
    action: str = Field(min_length=1, max_length=255)
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("details")
    @classmethod
    def _size(cls, value: dict[str, Any]) -> dict[str, Any]:
        import json

        if len(json.dumps(value)) > MAX_DETAILS_BYTES:
            raise ValueError(f"details must be at most {MAX_DETAILS_BYTES} bytes of JSON")
        return value
