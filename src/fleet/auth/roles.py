"""The six roles and which active role reaches which module (PRODUCT.md's table)."""

from __future__ import annotations

from typing import Final

ROLES: Final = ("operator", "admin", "superuser", "manager", "configurator", "maker")

MODULE_ROLES: Final[dict[str, frozenset[str]]] = {
    "CPP": frozenset(ROLES),
    "CM": frozenset({"superuser", "configurator", "maker"}),
    "FDM": frozenset({"manager", "admin", "superuser", "configurator", "maker"}),
    "FCM": frozenset({"configurator", "maker"}),
    "FSM": frozenset({"maker"}),
    # Managers plan and approve repairs, operators execute them at the bench.
    "FWM": frozenset({"operator", "manager", "superuser", "maker"}),
    "ADMIN": frozenset({"admin", "superuser", "maker"}),
}

MODULES: Final = tuple(MODULE_ROLES)


def modules_for(role: str) -> list[str]:
    """Return the modules an active role reaches, in the product's order."""
    return [m for m, roles in MODULE_ROLES.items() if role in roles]


def can_access(role: str, module: str) -> bool:
    """Tell whether an active role reaches a module."""
    return role in MODULE_ROLES.get(module, frozenset())
