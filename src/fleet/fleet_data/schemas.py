"""Bodies of the Fleet Data Manager API: customers, devices, history, dashboard, import."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

DEVICE_STATUSES = ("active", "inactive", "maintenance", "decommissioned")
# The seed's device types; others are allowed (new tester models) as long as they are identifiers.
KNOWN_DEVICE_TYPES = (
    "mask_tester",
    "pressure_sensor",
    "flow_meter",
    "temperature_sensor",
    "humidity_sensor",
)
IDENTIFIER = r"^[a-z][a-z0-9_]*$"
MAX_JSON_BYTES = 65_536
MAX_CONTACT_BYTES = 16_384
MAX_ID = 2**31 - 1  # INTEGER primary keys

DeviceStatus = Literal["active", "inactive", "maintenance", "decommissioned"]
TypeName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=IDENTIFIER)]
Code = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^\S+$")
]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]

# contact_info keys the product knows; their values are checked, every other key is kept as is.
_CONTACT_FIELDS: dict[str, TypeAdapter[Any]] = {
    "phone": TypeAdapter(
        Annotated[str, StringConstraints(max_length=50, pattern=r"^\+?[0-9 ()./-]{3,50}$")]
    ),
    "email": TypeAdapter(Annotated[EmailStr, StringConstraints(max_length=255)]),
    "address": TypeAdapter(Annotated[str, StringConstraints(max_length=500)]),
    "company": TypeAdapter(Annotated[str, StringConstraints(max_length=255)]),
    "notes": TypeAdapter(Annotated[str, StringConstraints(max_length=2000)]),
}


# The same fields as a JSON Schema, for the contact form (the server checks with the above).
CONTACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "phone": {"type": "string", "maxLength": 50, "pattern": r"^\+?[0-9 ()./-]{3,50}$"},
        "email": {"type": "string", "format": "email", "maxLength": 255},
        "address": {"type": "string", "maxLength": 500},
        "company": {"type": "string", "maxLength": 255},
        "notes": {"type": "string", "maxLength": 2000},
    },
}


def _json_size(value: Any, limit: int, what: str) -> None:
    if len(json.dumps(value, separators=(",", ":"))) > limit:
        raise ValueError(f"{what} must be at most {limit} bytes of JSON")


def check_contact_info(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Check the known contact keys (email format, lengths); keep unknown keys unchanged."""
    if value is None:
        return None
    _json_size(value, MAX_CONTACT_BYTES, "contact_info")
    problems = []
    out = dict(value)
    for key, adapter in _CONTACT_FIELDS.items():
        if key not in value or value[key] is None:
            continue
        try:
            out[key] = str(adapter.validate_python(value[key], strict=True))
        except ValidationError as exc:
            problems.append(f"{key}: {exc.errors()[0]['msg']}")
    if problems:
        raise ValueError("; ".join(problems))
    return out


def check_configuration(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Bound the size of a device configuration (its content is checked by the template)."""
    if value is not None:
        _json_size(value, MAX_JSON_BYTES, "configuration")
    return value


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    contact_info: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value

    _contact = field_validator("contact_info")(check_contact_info)


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    contact_info: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            raise ValueError("name cannot be null")
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value

    _contact = field_validator("contact_info")(check_contact_info)


class CustomerRead(BaseModel):
    id: int
    name: str
    contact_info: dict[str, Any] | None
    created_at: datetime | None
    device_count: int = 0


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_number: Code
    device_type: TypeName
    kind_of_device: OptionalText | None = None
    serial_number: OptionalText | None = None
    status: DeviceStatus = "active"
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    configuration: dict[str, Any] | None = None

    _config = field_validator("configuration")(check_configuration)


class DeviceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_number: Code | None = None
    device_type: TypeName | None = None
    kind_of_device: OptionalText | None = None
    serial_number: OptionalText | None = None
    status: DeviceStatus | None = None
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    configuration: dict[str, Any] | None = None

    _config = field_validator("configuration")(check_configuration)

    @field_validator("device_number", "device_type", "status")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value


DueState = Literal["overdue", "due_soon", "ok", "never_tested"]


class DeviceRead(BaseModel):
    id: int
    device_number: str
    device_type: str
    kind_of_device: str | None
    serial_number: str | None
    status: str | None
    customer_id: int | None
    customer_name: str | None
    configuration: dict[str, Any] | None
    created_at: datetime | None
    updated_at: datetime | None
    last_test_at: datetime | None
    next_due_at: datetime | None
    interval_months: int | None
    due_state: DueState


class DeviceRow(TypedDict):
    """``DeviceRead`` as a plain dict: what the device list serializes (same keys, same order)."""

    id: int
    device_number: str
    device_type: str
    kind_of_device: str | None
    serial_number: str | None
    status: str | None
    customer_id: int | None
    customer_name: str | None
    configuration: dict[str, Any] | None
    created_at: datetime | None
    updated_at: datetime | None
    last_test_at: datetime | None
    next_due_at: datetime | None
    interval_months: int | None
    due_state: DueState


DEVICE_ROWS: TypeAdapter[list[DeviceRow]] = TypeAdapter(list[DeviceRow])


class HistoryEntry(BaseModel):
    kind: Literal["test", "software", "change"]
    at: datetime | None
    title: str
    summary: str
    ref_id: int
    user: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class DeviceHistory(BaseModel):
    device: DeviceRead
    entries: list[HistoryEntry]


class CountItem(BaseModel):
    key: str | None
    label: str
    count: int


class Dashboard(BaseModel):
    generated_at: datetime
    total_devices: int
    total_customers: int
    by_status: list[CountItem]
    by_device_type: list[CountItem]
    by_customer: list[CountItem]
    devices_without_customer: int
    overdue: int
    due_next_30_days: int
    never_tested: int
    tests_last_30_days: int
    tests_by_verdict: list[CountItem]


class DeviceTypes(BaseModel):
    known: list[str]
    in_use: list[str]
    kinds_in_use: list[str]


class ImportError_(BaseModel):
    row: int
    field: str | None
    message: str


class ImportReport(BaseModel):
    entity: Literal["devices", "customers"]
    dry_run: bool
    applied: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    errors: list[ImportError_]
