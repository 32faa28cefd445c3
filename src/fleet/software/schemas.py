"""Request and response shapes of the Fleet Software Manager API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from fleet.software.semver import VERSION_PATTERN

Category = Literal["firmware", "application", "driver", "tool"]
Action = Literal["install", "update", "uninstall", "rollback"]
InstallationStatus = Literal["pending", "in_progress", "completed", "failed", "canceled"]


def _url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


class SoftwareBase(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str | None = Field(default=None, max_length=10000)
    vendor: str | None = Field(default=None, max_length=255)
    category: Category | None = None
    platform: str | None = Field(default=None, max_length=100)
    license_type: str | None = Field(default=None, max_length=100)
    repository_url: str | None = Field(default=None, max_length=500)
    documentation_url: str | None = Field(default=None, max_length=500)

    _check_urls = field_validator("repository_url", "documentation_url")(_url)


class SoftwareCreate(SoftwareBase):
    name: str = Field(min_length=1, max_length=255)
    is_active: bool = True


class SoftwareUpdate(SoftwareBase):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    is_active: bool | None = None


class SoftwareRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    vendor: str | None
    category: str | None
    platform: str | None
    license_type: str | None
    repository_url: str | None
    documentation_url: str | None
    created_by: int | None
    is_active: bool | None
    created_at: datetime | None
    updated_at: datetime | None
    version_count: int = 0
    latest_stable_version: str | None = None
    installation_count: int = 0


class SoftwareRow(TypedDict):
    """``SoftwareRead`` as a plain dict: what the catalog list serializes (same keys, same
    order; see fleet.reads)."""

    id: int
    name: str
    description: str | None
    vendor: str | None
    category: str | None
    platform: str | None
    license_type: str | None
    repository_url: str | None
    documentation_url: str | None
    created_by: int | None
    is_active: bool | None
    created_at: datetime | None
    updated_at: datetime | None
    version_count: int
    latest_stable_version: str | None
    installation_count: int


SOFTWARE_ROWS: TypeAdapter[list[SoftwareRow]] = TypeAdapter(list[SoftwareRow])


class VersionBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    release_notes: str | None = Field(default=None, max_length=100000)
    changelog: str | None = Field(default=None, max_length=100000)
    compatibility: dict[str, Any] | None = None
    released_at: datetime | None = None


class VersionCreate(VersionBase):
    version_number: str = Field(min_length=1, max_length=50, pattern=VERSION_PATTERN)
    is_stable: bool = True
    is_beta: bool = False
    requires_reboot: bool = False


class VersionUpdate(VersionBase):
    is_stable: bool | None = None
    is_beta: bool | None = None
    requires_reboot: bool | None = None


class VersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    software_id: int | None
    version_number: str
    release_notes: str | None
    changelog: str | None
    file_path: str | None
    file_size: int | None
    checksum: str | None
    download_url: str | None
    is_stable: bool | None
    is_beta: bool | None
    requires_reboot: bool | None
    compatibility: dict[str, Any] | None
    created_by: int | None
    created_at: datetime | None
    released_at: datetime | None


UpdateType = Literal["forced", "soft", "download_only"]


class MaintenanceWindow(BaseModel):
    """hawkBit's maintenance window: a cron schedule of window starts (five fields, or Quartz
    style with seconds first), a duration ``HH:MM:SS`` and a time zone offset ``+HH:MM``."""

    model_config = ConfigDict(extra="forbid")

    schedule: str = Field(min_length=9, max_length=120, examples=["0 0 2 ? * *"])
    duration: str = Field(min_length=8, max_length=8, examples=["02:00:00"])
    timezone: str = Field(min_length=6, max_length=6, examples=["+01:00"])


class DeliveryOptions(BaseModel):
    """How the installation reaches a device over DDI (see README, "Connecting devices")."""

    update_type: UpdateType = Field(
        default="forced",
        description="forced | soft | download_only (DDI forced | attempt | skip)",
    )
    maintenance_window: MaintenanceWindow | None = None
    confirmation_required: bool = Field(
        default=False, description="The device's user confirms before it starts (DDI)."
    )


class InstallationCreate(DeliveryOptions):
    model_config = ConfigDict(extra="forbid")

    device_id: int = Field(ge=1)
    version_id: int = Field(ge=1)
    action: Action = "install"


class InstallationUpdate(BaseModel):
    """A status move (``status``) or, without it, a progress report of a running installation."""

    model_config = ConfigDict(extra="forbid")

    status: InstallationStatus | None = None
    log_line: str | None = Field(default=None, max_length=2000)
    error_message: str | None = Field(default=None, max_length=10000)
    progress: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _something(self) -> InstallationUpdate:
        if self.status is None and self.log_line is None and self.progress is None:
            raise ValueError("give a status, or a log_line / progress to report")
        return self


class InstallationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: int | None
    version_id: int | None
    action: str
    status: str | None
    initiated_by: int | None
    started_at: datetime | None
    completed_at: datetime | None
    error_message: str | None
    previous_version: str | None
    new_version: str | None
    rollback_point: dict[str, Any] | None
    software_id: int | None = None
    software_name: str | None = None
    device_number: str | None = None
    rollout_id: int | None = None


class DeviceReport(BaseModel):
    """One report of the device about the installation (DDI feedback), newest last."""

    model_config = ConfigDict(from_attributes=True)

    kind: str
    reported_at: datetime
    execution: str
    finished: str | None
    code: int | None
    progress_cnt: int | None
    progress_of: int | None
    details: list[str] | None


class InstallationDetail(InstallationRead):
    installation_log: str | None
    delivery: DeliveryOptions | None = None
    device_reports: list[DeviceReport] = []


class DeviceSoftwareRead(BaseModel):
    id: int
    device_id: int | None
    software_id: int | None
    software_name: str | None
    category: str | None
    version_id: int | None
    installed_version: str | None
    installation_status: str | None
    installation_date: datetime | None
    last_updated: datetime | None
    configuration: dict[str, Any] | None
    notes: str | None
    latest_stable_version: str | None


class RolloutFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_type: str | None = Field(default=None, max_length=100)
    kind_of_device: str | None = Field(default=None, max_length=100)
    customer_id: int | None = None
    status: str | None = Field(default=None, max_length=50)


class RolloutCreate(DeliveryOptions):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=255)
    version_id: int = Field(ge=1)
    device_ids: list[int] | None = Field(default=None, min_length=1, max_length=100000)
    filter: RolloutFilter | None = None
    group_size: int = Field(default=100, ge=1, le=10000)
    success_threshold: int = Field(default=90, ge=1, le=100)
    error_threshold: int = Field(default=10, ge=0, le=100)

    @model_validator(mode="after")
    def _one_target(self) -> RolloutCreate:
        if (self.device_ids is None) == (self.filter is None):
            raise ValueError("give either device_ids or filter")
        if self.device_ids is not None and len(set(self.device_ids)) != len(self.device_ids):
            raise ValueError("device_ids contains duplicates")
        return self


class RolloutRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    version_id: int
    status: str
    target: dict[str, Any] | None
    group_size: int
    success_threshold: int
    error_threshold: int
    current_group: int
    total_devices: int
    pause_reason: str | None
    created_by: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    group_count: int = 0
    progress_percent: float = 0.0


class RolloutGroupRead(BaseModel):
    id: int
    position: int
    status: str
    device_count: int
    completed_count: int
    failed_count: int
    canceled_count: int
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]


class RolloutDetail(RolloutRead):
    groups: list[RolloutGroupRead]
    excluded: list[dict[str, Any]] = []
    delivery: DeliveryOptions | None = None
