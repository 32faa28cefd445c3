"""Request and answer bodies of ``/api/v1/tests`` and ``/api/v1/reports``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TestStart(BaseModel):
    __test__ = False
    model_config = ConfigDict(extra="forbid")

    scenario_id: int = Field(ge=1)
    device_id: int = Field(ge=1)
    customer_id: int | None = Field(default=None, ge=1)


class Sample(BaseModel):
    """One reading in the telemetry shape; absent signals are simply not measured. ``t`` is an
    ISO 8601 time or epoch milliseconds, as in the telemetry feed (or, below epoch
    milliseconds of the year 2000, seconds of device time)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    t: int | float | datetime
    pressure_low: float | None = None
    pressure_high: float | None = None
    flow: float | None = None


class SamplesPost(BaseModel):
    model_config = ConfigDict(extra="forbid")

    samples: list[Sample] = Field(min_length=1, max_length=50_000)
    step_order: int | None = Field(default=None, ge=1)
    device_id: int | None = Field(default=None, ge=1)


class StepSubmit(BaseModel):
    """An operator result, or data for an automatic step (samples, measurements, the bench)."""

    model_config = ConfigDict(extra="forbid")

    result: Literal["passed", "failed", "warning", "skipped"] | None = None
    notes: str | None = Field(default=None, max_length=4000)
    measurements: dict[str, Any] | None = None
    samples: list[Sample] | None = Field(default=None, max_length=50_000)
    source: Literal["bench"] | None = None
    bench_profile: Literal["good", "marginal", "bad"] | None = None


class BenchStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    profile: Literal["good", "marginal", "bad"] = "good"
    speed: float = Field(default=1.0, ge=0.1, le=100)
    rate_hz: float = Field(default=10.0, ge=1, le=50)


class AbortBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)


class RunningTest(BaseModel):
    """A test in progress, as Connect++ lists them for resuming or aborting."""

    __test__ = False
    id: int
    device_id: int | None
    device_number: str | None
    scenario_name: str | None
    operator_id: int | None
    operator: str | None
    customer_name: str | None
    start_time: datetime
    last_activity_at: datetime | None
    current_step: int | None
    steps_done: int
    steps_total: int


class ReportSummary(BaseModel):
    """A report in a list: no samples, no per-step details."""

    id: int
    test_scenario_id: int | None
    device_id: int | None
    operator_id: int | None
    customer_id: int | None
    start_time: datetime
    end_time: datetime | None
    status: str | None
    verdict: str | None
    scenario_name: str | None
    device_number: str | None
    operator_name: str | None = None
    customer_name: str | None = None


class ReportRead(ReportSummary):
    results: dict[str, Any] | None
    pressure_data: Any
    sha256: str | None
    sealed_at: datetime | None
    progress: dict[str, Any]


class TestStateRead(ReportRead):
    __test__ = False
    bench: dict[str, Any] | None = None
    bench_enabled: bool = False


class StepAnswer(BaseModel):
    step: dict[str, Any]
    progress: dict[str, Any]


class VerifyAnswer(BaseModel):
    valid: bool
    report_id: int
    sealed_at: datetime
    status: str | None
    device_number: str | None
    scenario_name: str | None
    start_time: datetime
    end_time: datetime | None
    detail: str


class SealAnswer(BaseModel):
    report_id: int
    sha256: str
    sealed_at: datetime


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    report_id: int
    step_order: int
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
