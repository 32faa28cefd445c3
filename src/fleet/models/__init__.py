"""Every ORM table, imported here so Alembic and the app see the whole schema."""

from fleet.models.backups import ConfigBackup
from fleet.models.config import Configuration, JsonTemplate, Translation
from fleet.models.device_log import DeviceLogEntry
from fleet.models.devices_api import (
    ArtifactHashes,
    DdiAction,
    DdiActionStatus,
    DeviceAttributes,
    DeviceAutoConfirm,
    DevicePresence,
    DeviceToken,
    InstallationOptions,
    RolloutOptions,
    TelemetrySample,
)
from fleet.models.fleet_data import Customer, Device, DeviceDueDate
from fleet.models.logs import SystemLog
from fleet.models.ops import CacheGeneration
from fleet.models.rollouts import Rollout, RolloutGroup, RolloutTarget
from fleet.models.runs import TestReportActivity, TestReportSeal, TestStepAttachment
from fleet.models.software import DeviceSoftware, Software, SoftwareInstallation, SoftwareVersion
from fleet.models.testing import TestReport, TestScenario, TestStep
from fleet.models.users import AuthSession, LoginFailure, RefreshToken, User
from fleet.models.workshop import (
    WorkshopComponentClock,
    WorkshopDue,
    WorkshopIntervalRule,
    WorkshopItem,
    WorkshopPart,
    WorkshopPartUsage,
    WorkshopReminder,
    WorkshopRepairOrder,
    WorkshopStatDay,
    WorkshopStepOutcome,
    WorkshopStockLot,
    WorkshopStockReceipt,
    WorkshopTestOutcome,
    WorkshopUse,
)

SEED_TABLES = (
    "users",
    "customers",
    "devices",
    "software",
    "software_versions",
    "software_installations",
    "device_software",
    "configurations",
    "json_templates",
    "translations",
    "test_scenarios",
    "test_steps",
    "test_reports",
    "system_logs",
)

__all__ = [
    "SEED_TABLES",
    "ArtifactHashes",
    "AuthSession",
    "CacheGeneration",
    "ConfigBackup",
    "Configuration",
    "Customer",
    "DdiAction",
    "DdiActionStatus",
    "Device",
    "DeviceAttributes",
    "DeviceAutoConfirm",
    "DeviceDueDate",
    "DeviceLogEntry",
    "DevicePresence",
    "DeviceSoftware",
    "DeviceToken",
    "InstallationOptions",
    "JsonTemplate",
    "LoginFailure",
    "RefreshToken",
    "Rollout",
    "RolloutGroup",
    "RolloutOptions",
    "RolloutTarget",
    "Software",
    "SoftwareInstallation",
    "SoftwareVersion",
    "SystemLog",
    "TelemetrySample",
    "TestReport",
    "TestReportActivity",
    "TestReportSeal",
    "TestScenario",
    "TestStep",
    "TestStepAttachment",
    "Translation",
    "User",
    "WorkshopComponentClock",
    "WorkshopDue",
    "WorkshopIntervalRule",
    "WorkshopItem",
    "WorkshopPart",
    "WorkshopPartUsage",
    "WorkshopReminder",
    "WorkshopRepairOrder",
    "WorkshopStatDay",
    "WorkshopStepOutcome",
    "WorkshopStockLot",
    "WorkshopStockReceipt",
    "WorkshopTestOutcome",
    "WorkshopUse",
]
