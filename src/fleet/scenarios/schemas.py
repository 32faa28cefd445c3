"""Request and answer bodies of ``/api/v1/scenarios``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

EXPORT_FORMAT = "fleet.scenario/1"


class ScenarioCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10000)
    device_type: str | None = Field(default=None, max_length=100)
    test_flow: dict[str, Any]
    is_active: bool = True


class ScenarioUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10000)
    device_type: str | None = Field(default=None, max_length=100)
    test_flow: dict[str, Any] | None = None
    is_active: bool | None = None


class ScenarioRead(BaseModel):
    id: int
    name: str
    description: str | None
    device_type: str | None
    test_flow: dict[str, Any]
    kind_of_test: str | None
    interval_months: int | None
    step_count: int
    created_by: int | None
    is_active: bool
    created_at: datetime | None
    updated_at: datetime | None
    report_count: int | None = None


class ScenarioRow(TypedDict):
    """``ScenarioRead`` as a plain dict: what the scenario list serializes (same keys, order)."""

    id: int
    name: str
    description: str | None
    device_type: str | None
    test_flow: dict[str, Any]
    kind_of_test: str | None
    interval_months: int | None
    step_count: int
    created_by: int | None
    is_active: bool
    created_at: datetime | None
    updated_at: datetime | None
    report_count: int | None


SCENARIO_ROWS: TypeAdapter[list[ScenarioRow]] = TypeAdapter(list[ScenarioRow])


class ScenarioDuplicate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)


class ScenarioExport(BaseModel):
    """One scenario as a portable document (the import format)."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field(default=EXPORT_FORMAT, pattern=r"^fleet\.scenario/1$")
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10000)
    device_type: str | None = Field(default=None, max_length=100)
    is_active: bool = True
    test_flow: dict[str, Any]


class ScenarioImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenarios: list[ScenarioExport] = Field(min_length=1, max_length=500)


class StepBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step_name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4000)
    action: str = Field(min_length=1, max_length=50)
    parameters: dict[str, Any] = Field(default_factory=dict)
    criteria: dict[str, Any] = Field(default_factory=lambda: {"type": "boolean"})
    auto_test: bool | None = None
    operator_participation: bool | None = None
    required: bool = True


class StepCreate(StepBase):
    step_order: int | None = Field(default=None, ge=1, description="Insert here; default: last")


class StepUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step_order: int | None = Field(default=None, ge=1, description="Move the step here")
    step_name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=4000)
    action: str | None = Field(default=None, min_length=1, max_length=50)
    parameters: dict[str, Any] | None = None
    criteria: dict[str, Any] | None = None
    auto_test: bool | None = None
    operator_participation: bool | None = None
    required: bool | None = None


class StepRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scenario_id: int | None
    step_order: int
    step_name: str
    description: str | None
    parameters: dict[str, Any] | None
    criteria: dict[str, Any] | None
    auto_test: bool | None
    operator_participation: bool | None
    created_at: datetime | None


class FlowCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test_flow: Any


class TemplateRead(BaseModel):
    id: int
    name: str
    category: str | None
    description: str | None
    default_values: Any
