"""The six roles and which active role reaches which module (PRODUCT.md's table)."""

from __future__ import annotations

from collections.abc import Iterable
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


def covers(held: Iterable[str], role: str) -> bool:
    """Tell whether someone holding ``held`` holds ``role`` for the purpose of managing accounts.

    A role is held when it is one of ``held``, or when one of ``held`` reaches every module
    ``role`` reaches: taking over such an account would give nothing its holder cannot already
    do (so an admin holds ``operator``, whose only module, Connect++, every role reaches).
    ``superuser`` is the exception: only someone who holds it himself holds it.
    """
    held = set(held)
    if role in held:
        return True
    if role == "superuser" or role not in ROLES:
        return False
    reach = set(modules_for(role))
    return any(reach <= set(modules_for(h)) for h in held if h in ROLES)
