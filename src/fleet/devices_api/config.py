"""Knobs of the device API, read from the environment (``FLEET_DDI_...``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DeviceApiConfig(BaseSettings):
    """Polling interval, token rotation grace, telemetry limits, gateway token, quotas."""

    model_config = SettingsConfigDict(env_prefix="FLEET_DDI_", extra="ignore")

    polling_seconds: int = Field(default=60, ge=1, le=86_400)
    offline_after_intervals: int = Field(default=3, ge=1)
    sweep_seconds: float = Field(default=5.0, gt=0)
    token_grace_minutes: int = Field(default=1440, ge=0, le=100_800)
    max_batch: int = Field(default=5000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    # hawkBit's gateway security token: ``Authorization: GatewayToken <t>`` authenticates any
    # controller of the tenant and registers an unknown one on its first poll. Off when unset.
    gateway_token: str | None = Field(default=None, min_length=16, max_length=200)
    # Quotas (0 turns one off): polls of one device, and reports about one action, per minute.
    poll_quota_per_minute: int = Field(default=120, ge=0, le=100_000)
    feedback_quota_per_minute: int = Field(default=120, ge=0, le=100_000)

    def polling_sleep(self) -> str:
        """Answer the polling interval as DDI's ``HH:MM:SS``."""
        s = self.polling_seconds
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"

    @property
    def offline_after_seconds(self) -> int:
        return self.polling_seconds * self.offline_after_intervals
