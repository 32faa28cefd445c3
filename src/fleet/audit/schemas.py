"""Bodies of the audit log API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_DETAILS_BYTES = 16_384
# What a client may write through POST /logs: its own namespace only, so a client row can
# never pass for one the server writes (``user.update``, ``auth.login``, ...).
CLIENT_ACTION_PREFIX = "client."
CLIENT_ACTION_PATTERN = r"^client\.[A-Za-z0-9_.:-]{1,120}$"
CLIENT_LEVELS = ("INFO", "WARNING", "ERROR", "HELP")
ClientLevel = Literal["INFO", "WARNING", "ERROR", "HELP"]


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

    log_level: ClientLevel = "INFO"
    action: str = Field(
        pattern=CLIENT_ACTION_PATTERN,
        description="The client's own namespace: `client.` then letters, digits, `_.:-`",
        examples=["client.help"],
    )
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("details")
    @classmethod
    def _size(cls, value: dict[str, Any]) -> dict[str, Any]:
        import json

        if len(json.dumps(value)) > MAX_DETAILS_BYTES:
            raise ValueError(f"details must be at most {MAX_DETAILS_BYTES} bytes of JSON")
        return value
