"""Version ordering and device compatibility, shared by every part of the software module."""

from __future__ import annotations

import re
from typing import Any

from fleet.models import Device

VERSION_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z.+_~-]{0,49}$"
_VERSION_RE = re.compile(VERSION_PATTERN)
_IDENT = re.compile(r"\d+|[A-Za-z]+")

Ident = tuple[int, int, str]


def _idents(text: str) -> tuple[Ident, ...]:
    parts: list[Ident] = []
    for chunk in text.split("."):
        for token in _IDENT.findall(chunk) or [""]:
            parts.append((0, int(token), "") if token.isdigit() else (1, 0, token.lower()))
    return tuple(parts)


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key ordering versions semantically: 2.10.0 > 2.9.0 > 2.9.0-beta.1, 1.0 == 1.0.0."""
    core, _, pre = version.split("+", 1)[0].partition("-")
    main = list(_idents(core))
    while main and main[-1] == (0, 0, ""):
        main.pop()
    return (tuple(main), (1,) if not pre else (0, _idents(pre)))


def is_valid_version(version: str) -> bool:
    """Tell whether a version string is usable (letters, digits and . + _ ~ -, at most 50)."""
    return bool(_VERSION_RE.match(version))


def latest(versions: list[str]) -> str | None:
    """Return the semantically newest of some version strings."""
    return max(versions, key=version_key) if versions else None


def compatibility_problem(compatibility: dict[str, Any] | None, device: Device) -> str | None:
    """Explain why a version does not fit a device, or answer None when it does.

    An absent or empty list means "any": ``{"device_types": [], "kind_of_device": ["x"]}``
    accepts every device type of kind x.
    """
    compat = compatibility or {}
    types = compat.get("device_types") or []
    if types and device.device_type not in types:
        return (
            f"device {device.device_number} is a {device.device_type}; "
            f"the version supports device types {', '.join(map(str, types))}"
        )
    kinds = compat.get("kind_of_device") or []
    if kinds and device.kind_of_device not in kinds:
        return (
            f"device {device.device_number} is of kind {device.kind_of_device or '(none)'}; "
            f"the version supports kinds {', '.join(map(str, kinds))}"
        )
    return None


COMPATIBILITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "device_types": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "uniqueItems": True,
        },
        "kind_of_device": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 100},
            "uniqueItems": True,
        },
        "min_hardware_revision": {"type": "string", "maxLength": 50},
        "notes": {"type": "string", "maxLength": 2000},
    },
    "additionalProperties": False,
}
