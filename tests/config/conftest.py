"""Helpers for the Fleet Config Manager tests."""

from __future__ import annotations

import pytest

API = "/api/v1/fleet-config"


@pytest.fixture
def cfg(role_headers: dict[str, dict[str, str]]) -> dict[str, str]:
    """Auth headers of a configurator."""
    return role_headers["configurator"]
