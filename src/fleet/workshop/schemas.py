"""Bodies of the Fleet Workshop Manager API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

OrderState = Literal["proposed", "open", "in_progress", "done", "canceled"]
ReadinessValue = Literal["ready", "in_repair", "test_required", "blocked", "decommissioned"]
Trigger = Literal["use", "repair", "fitting", "manufacture"]
Source = Literal["regulation", "manufacturer"]
GroupBy = Literal["device_type", "kind_of_device", "step", "part", "customer"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Code = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^\S+$")
]
Ident = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
]
LongText = Annotated[str, StringConstraints(max_length=10_000)]
MAX_MONTHS = 1200


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- parts and stock


class PartCreate(Strict):
    part_number: Code
    name: Name
    fits: list[Ident] = Field(default_factory=list, max_length=50)
    life_months: int | None = Field(default=None, ge=1, le=MAX_MONTHS)
    component: Ident | None = None
    low_stock_threshold: int = Field(default=0, ge=0, le=1_000_000)


class PartUpdate(Strict):
    name: Name | None = None
    fits: list[Ident] | None = Field(default=None, max_length=50)
    life_months: int | None = Field(default=None, ge=1, le=MAX_MONTHS)
    component: Ident | None = None
    low_stock_threshold: int | None = Field(default=None, ge=0, le=1_000_000)
    is_active: bool | None = None


class LotRead(BaseModel):
    id: int
    lot_number: str
    quantity: int


class PartRead(BaseModel):
    id: int
    part_number: str
    name: str
    fits: list[str]
    life_months: int | None
    component: str | None
    low_stock_threshold: int
    is_active: bool
    stock: int
    low_stock: bool
    lots: list[LotRead]


class ReceiptCreate(Strict):
    lot_number: Code
    quantity: int = Field(ge=1, le=1_000_000)
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class ReceiptRead(BaseModel):
    id: int
    lot_id: int
    lot_number: str
    quantity: int
    note: str | None
    received_at: datetime


# ---------------------------------------------------------------- repair orders


class OrderCreate(Strict):
    device_id: int = Field(ge=1)
    findings: LongText | None = None
    technician_id: int | None = Field(default=None, ge=1)


class OrderUpdate(Strict):
    findings: LongText | None = None
    work_done: LongText | None = None
    technician_id: int | None = Field(default=None, ge=1)
    time_spent_minutes: int | None = Field(default=None, ge=0, le=100_000)


class OrderTransition(Strict):
    state: OrderState
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class PartUse(Strict):
    part_id: int = Field(ge=1)
    lot_id: int = Field(ge=1)
    quantity: int = Field(default=1, ge=1, le=10_000)
    serial_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None
    ) = None
    fitted_at: datetime | None = None


class PartUseRead(BaseModel):
    id: int
    part_id: int
    part_number: str
    part_name: str
    lot_id: int
    lot_number: str
    serial_number: str | None
    quantity: int
    fitted_at: datetime


class OrderRead(BaseModel):
    id: int
    device_id: int
    device_number: str
    customer_id: int | None
    state: OrderState
    origin: str
    trigger_report_id: int | None
    release_report_id: int | None
    failed_steps: list[dict[str, Any]]
    findings: str | None
    work_done: str | None
    technician_id: int | None
    technician: str | None
    time_spent_minutes: int | None
    created_at: datetime
    opened_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    parts: list[PartUseRead]
    readiness: ReadinessValue | None = None


# ---------------------------------------------------------------- rules


class RuleBody(Strict):
    name: Name
    device_type: Ident | None = None
    kind_of_device: Ident | None = None
    component: Ident | None = None
    kind_of_test: Ident
    tests_accepted: list[Ident] = Field(default_factory=list, max_length=20)
    interval_months: int | None = Field(default=None, ge=0, le=MAX_MONTHS)
    after_each_use: bool = False
    trigger: Trigger
    life_limit_months: int | None = Field(default=None, ge=1, le=MAX_MONTHS)
    source: Source
    source_text: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)
    ]
    is_active: bool = True

    @model_validator(mode="after")
    def _coherent(self) -> RuleBody:
        if self.interval_months is None and not self.after_each_use and not self.life_limit_months:
            raise ValueError("a rule needs an interval, after_each_use or a life limit")
        if self.after_each_use and self.trigger != "use":
            raise ValueError("after_each_use needs trigger 'use'")
        if self.after_each_use and self.interval_months:
            raise ValueError("after_each_use and interval_months exclude each other")
        if self.trigger == "fitting" and not self.component:
            raise ValueError("trigger 'fitting' is a component's clock: name the component")
        if self.component and self.trigger != "fitting":
            raise ValueError("a component rule counts from its fitting: use trigger 'fitting'")
        if not self.device_type and not self.kind_of_device:
            raise ValueError("a rule names a device_type, a kind_of_device or both")
        return self


class RuleRead(RuleBody):
    model_config = ConfigDict(extra="ignore")
    id: int
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- items


class ItemUpdate(Strict):
    manufactured_on: datetime | None = None


class UseCreate(Strict):
    used_at: datetime | None = None
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class ComponentFit(Strict):
    component: Ident
    fitted_on: datetime


class DueRead(BaseModel):
    device_id: int
    device_number: str
    device_type: str
    kind_of_device: str | None
    customer_id: int | None
    customer_name: str | None
    component: str
    kind_of_test: str
    due_at: datetime
    overdue: bool
    effect: str
    rule_id: int | None
    rule_name: str | None
    source: str | None
    reason: str  # in English; the pages translate reason_code with reason_params
    reason_code: str
    reason_params: dict[str, Any]


class ItemRead(BaseModel):
    device_id: int
    device_number: str
    readiness: ReadinessValue
    blocked_reason: str | None
    reason: str | None  # in English; the pages translate reason_code with reason_params
    reason_code: str | None = None
    reason_params: dict[str, Any] | None = None
    manufactured_on: datetime | None
    components: dict[str, datetime]
    due: list[DueRead]
    orders: list[int]


class ReadinessRead(BaseModel):
    device_id: int
    readiness: ReadinessValue
    blocked_reason: str | None
    reason: str | None  # in English; the pages translate reason_code with reason_params
    reason_code: str | None = None
    reason_params: dict[str, Any] | None = None


# ---------------------------------------------------------------- reminders


class ReminderSend(Strict):
    within_days: int = Field(default=30, ge=0, le=3650)
    customer_id: int | None = Field(default=None, ge=1)
    dry_run: bool = False


class DigestRead(BaseModel):
    customer_id: int
    customer_name: str
    recipient: str
    items: list[DueRead]
    sent: bool


class ReminderResult(BaseModel):
    dry_run: bool
    digests: list[DigestRead]
    customers_without_email: list[str]


# ---------------------------------------------------------------- statistics


class StatRow(BaseModel):
    key: str
    label: str
    tests: int | None
    failures: int | None
    failure_rate: float | None
    mtbf_days: float | None
    parts_replaced: int | None


class TopPart(BaseModel):
    part_id: int
    part_number: str
    name: str
    quantity: int
    orders: int


class Statistics(BaseModel):
    group_by: GroupBy
    date_from: datetime
    date_to: datetime
    tests: int
    failures: int
    failure_rate: float | None
    rows: list[StatRow]
    top_parts: list[TopPart]


class WorkshopDashboard(BaseModel):
    orders_by_state: dict[str, int]
    low_stock_parts: list[PartRead]
    due_within_30_days: int
    overdue: int
