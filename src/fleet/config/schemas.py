"""Request and answer shapes of the Fleet Config Manager API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

COMPONENTS = ("CPP", "CM", "FDM", "FCM", "FSM")
Component = Literal["CPP", "CM", "FDM", "FCM", "FSM"]
KEY_PATTERN = r"^[A-Za-z0-9_.\-]+$"
LANG_PATTERN = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,4})?$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("a value is required (JSON null is not a configuration value)")
    return value


# ---- system configuration -------------------------------------------------------------------


class SystemConfigCreate(_Strict):
    config_key: str = Field(min_length=1, max_length=100, pattern=KEY_PATTERN)
    config_value: Any
    component: Component | None = None

    _value = field_validator("config_value")(_not_null)

    @model_validator(mode="before")
    @classmethod
    def _value_required(cls, data: Any) -> Any:
        if isinstance(data, dict) and "config_value" not in data:
            raise ValueError("config_value is required")
        return data


class SystemConfigUpdate(_Strict):
    config_value: Any = None
    component: Component | None = None

    @model_validator(mode="after")
    def _value_not_null(self) -> SystemConfigUpdate:
        if "config_value" in self.model_fields_set and self.config_value is None:
            raise ValueError("config_value cannot be null")
        return self


class SystemConfigPut(_Strict):
    """Body of ``PUT /system-configs/by-key/{key}``: creates or replaces the value."""

    config_value: Any
    component: Component | None = None

    _value = field_validator("config_value")(_not_null)


class SystemConfigRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    config_key: str
    config_value: Any
    component: str | None
    updated_by: int | None
    updated_at: datetime | None


# ---- JSON templates -------------------------------------------------------------------------


class TemplateCreate(_Strict):
    name: str = Field(min_length=1, max_length=255)
    template_type: str = Field(min_length=1, max_length=100, pattern=KEY_PATTERN)
    category: str | None = Field(default=None, max_length=100, pattern=KEY_PATTERN)
    schema_: Any = Field(alias="schema")
    default_values: Any
    description: str | None = Field(default=None, max_length=10_000)
    is_active: bool = True

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TemplateUpdate(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    template_type: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=KEY_PATTERN
    )
    category: str | None = Field(default=None, max_length=100, pattern=KEY_PATTERN)
    schema_: Any = Field(default=None, alias="schema")
    default_values: Any = None
    description: str | None = Field(default=None, max_length=10_000)
    is_active: bool | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: int
    name: str
    template_type: str
    category: str | None
    schema_: Any = Field(serialization_alias="schema")
    default_values: Any
    description: str | None
    is_active: bool | None
    created_by: int | None
    created_at: datetime | None
    updated_at: datetime | None


class TemplateDraft(_Strict):
    """A template checked without being saved (live validation in the editor)."""

    schema_: Any = Field(alias="schema")
    default_values: Any = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DocumentIn(_Strict):
    document: Any


class IssueOut(BaseModel):
    path: str
    message: str


class ValidationResult(BaseModel):
    valid: bool
    errors: list[IssueOut]


# ---- device configuration -------------------------------------------------------------------


class DeviceConfigRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_number: str
    device_type: str
    kind_of_device: str | None
    status: str | None
    customer_id: int | None
    configuration: Any
    updated_at: datetime | None


class DeviceConfigUpdate(_Strict):
    configuration: dict[str, Any]


class DeviceFilter(_Strict):
    device_type: str | None = Field(default=None, max_length=100)
    kind_of_device: str | None = Field(default=None, max_length=100)
    customer_id: int | None = None
    status: str | None = Field(default=None, max_length=50)
    device_ids: list[int] | None = Field(default=None, max_length=10_000)


class ApplyTemplate(_Strict):
    template_id: int
    filters: DeviceFilter = Field(default_factory=DeviceFilter)
    mode: Literal["replace", "merge"] = "merge"
    dry_run: bool = False


class ApplyResult(BaseModel):
    template_id: int
    mode: str
    dry_run: bool
    matched: int
    changed: int
    device_ids: list[int]


# ---- translations ---------------------------------------------------------------------------


class TranslationIn(_Strict):
    key: str = Field(min_length=1, max_length=255, pattern=KEY_PATTERN)
    language: str = Field(min_length=2, max_length=10, pattern=LANG_PATTERN)
    value: str = Field(min_length=1, max_length=10_000)
    component: str | None = Field(default=None, max_length=50)

    @field_validator("value")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a translation cannot be blank")
        return value


class TranslationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    language: str
    value: str
    component: str | None
    created_at: datetime | None


class TranslationRow(BaseModel):
    key: str
    component: str | None
    values: dict[str, str]
    missing: list[str]


class ImportResult(BaseModel):
    language: str
    created: int
    updated: int
    unchanged: int


# ---- backups --------------------------------------------------------------------------------


class BackupCreate(_Strict):
    backup_name: str | None = Field(default=None, min_length=1, max_length=255)
    backup_data: dict[str, Any] | None = None


class BackupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    backup_name: str
    kind: str
    created_by: int | None
    created_at: datetime
    size: int
    sha256: str


class RestoreRequest(_Strict):
    restore_data: dict[str, Any] | None = None
    backup_id: int | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> RestoreRequest:
        if (self.restore_data is None) == (self.backup_id is None):
            raise ValueError("give exactly one of restore_data or backup_id")
        return self


class TableChanges(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    items: list[dict[str, Any]] = Field(default_factory=list)


class RestoreResult(BaseModel):
    dry_run: bool
    applied: bool
    sha256: str
    pre_restore_backup_id: int | None
    changes: dict[str, TableChanges]
