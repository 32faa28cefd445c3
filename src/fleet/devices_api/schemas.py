"""Request and response shapes of the device API (DDI names where DDI defines them)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Required

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    field_validator,
)
from typing_extensions import TypedDict

MAX_BATCH = 5000
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LIMIT = 1e7  # far beyond any physical pressure or flow of a mask tester


# -- credentials ------------------------------------------------------------------------------
class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_minutes: int | None = Field(
        default=None,
        ge=0,
        le=100_800,
        description="How long the device's previous tokens stay valid (default from settings).",
    )


class TokenIssued(BaseModel):
    token: str = Field(description="The device token; shown once, only its digest is stored.")
    id: int
    device_id: int
    controller_id: str
    created_at: datetime


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: int
    prefix: str
    created_by: int | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool = False


class RevokeResult(BaseModel):
    revoked: int


class AttributesRead(BaseModel):
    device_id: int
    attributes: dict[str, Any]
    updated_at: datetime | None


class PresenceRead(BaseModel):
    device_id: int
    status: Literal["online", "offline"]
    last_seen: datetime | None
    address: str | None
    polling_seconds: int


# -- telemetry --------------------------------------------------------------------------------
# Batches are validated by pydantic-core alone (TypedDicts, no Python validators: a 1 000-sample
# batch takes about a millisecond); time conversion and ordering are checked in one pass after.
Measurement = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-_LIMIT, le=_LIMIT)]
TimeValue = StrictInt | StrictFloat | Annotated[str, Field(max_length=40)]


class SampleIn(TypedDict, total=False):
    """One sample: ``t`` (ISO 8601 or epoch milliseconds) and at least one measurement."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    t: Required[TimeValue]
    pressure_low: Measurement | None
    pressure_high: Measurement | None
    flow: Measurement | None


class TelemetryBatch(TypedDict, total=False):
    """A batch of samples, strictly increasing in time, optionally for a running test."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    samples: Required[Annotated[list[SampleIn], Field(min_length=1, max_length=MAX_BATCH)]]
    test_id: Annotated[int, Field(strict=True, ge=1)] | None


BATCH_ADAPTER: TypeAdapter[TelemetryBatch] = TypeAdapter(TelemetryBatch)
EARLIEST = _EARLIEST


class TelemetryAccepted(BaseModel):
    accepted: int
    device_id: int
    test_id: int | None
    appended_to_test: bool


class TelemetryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    t: datetime
    pressure_low: float | None
    pressure_high: float | None
    flow: float | None
    test_id: int | None


# -- DDI --------------------------------------------------------------------------------------
class DdiProgress(BaseModel):
    """Progress as the device counts it; like hawkBit, not checked (``{"cnt": 0, "of": 0}``
    is what SWUpdate sends with its final report)."""

    model_config = ConfigDict(extra="ignore")

    cnt: int | None = None
    of: int | None = None


class DdiResult(BaseModel):
    model_config = ConfigDict(extra="ignore")

    finished: Literal["success", "failure", "none"] = "none"
    progress: DdiProgress | None = None


DDI_EXECUTIONS = (
    "closed",
    "proceeding",
    "canceled",
    "scheduled",
    "rejected",
    "resumed",
    "downloaded",
    "download",
)


class DdiStatus(BaseModel):
    model_config = ConfigDict(extra="ignore")

    execution: Literal[
        "closed",
        "proceeding",
        "canceled",
        "scheduled",
        "rejected",
        "resumed",
        "downloaded",
        "download",
    ]
    result: DdiResult = Field(default_factory=DdiResult)
    code: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    # SWUpdate sends its whole log of an installation as details: keep it (the body limit
    # bounds it), the action history stores the last lines.
    details: list[str] = Field(default_factory=list, max_length=5000)

    @field_validator("details")
    @classmethod
    def _details(cls, value: list[str]) -> list[str]:
        if any(len(d) > 2000 for d in value):
            raise ValueError("a detail line is at most 2000 characters")
        return value


class DdiActionFeedback(BaseModel):
    """``POST .../deploymentBase/{actionId}/feedback`` and ``.../cancelAction/{id}/feedback``.

    As in hawkBit, the body has no ``id`` (the action is the one in the path): fields the model
    does not know, such as the numeric ``id`` SWUpdate sends, are ignored."""

    model_config = ConfigDict(extra="ignore")

    status: DdiStatus


class DdiConfirmationFeedback(BaseModel):
    """``POST .../confirmationBase/{actionId}/feedback``: the device's user confirmed or not."""

    model_config = ConfigDict(extra="ignore")

    confirmation: Literal["confirmed", "denied"]
    code: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    details: list[str] = Field(default_factory=list, max_length=100)


class DdiAutoConfirm(BaseModel):
    """``POST .../confirmationBase/activateAutoConfirm``."""

    model_config = ConfigDict(extra="ignore")

    initiator: str | None = Field(default=None, max_length=128)
    remark: str | None = Field(default=None, max_length=512)


class DdiConfigData(BaseModel):
    """``PUT .../configData``: the attributes the device reports about itself."""

    model_config = ConfigDict(extra="ignore")

    mode: Literal["merge", "replace", "remove"] = "merge"
    data: dict[str, str | int | float | bool] = Field(max_length=100)

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if not key or len(key) > 128:
                raise ValueError("attribute names are 1 to 128 characters")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"attribute {key!r} must be finite")
            if isinstance(item, str) and len(item) > 512:
                raise ValueError(f"attribute {key!r} is longer than 512 characters")
        return value
