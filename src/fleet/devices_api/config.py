"""The device API's settings now live in the one settings root: ``fleet.settings.DdiSettings``,
reached as ``settings.ddi`` (variables ``FLEET_DDI_...``, unchanged). This name stays for code
written against the old place."""

from __future__ import annotations

from fleet.settings import DdiSettings

DeviceApiConfig = DdiSettings
