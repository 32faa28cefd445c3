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


# Whose accounts a role may administer (change, reset the password or badge of, deactivate,
# re-role): its own kind and the kinds below it. The users area is administered by admin,
# superuser and maker (PRODUCT.md); an admin looks after the people at the benches and their
# managers, a superuser after admins too, a maker after everyone but superusers. Only a
# superuser administers a superuser. Written as data rather than derived from the module
# table: a module added for operators or managers (the workshop) must not stop their admin
# from resetting their passwords.
ACCOUNT_HOLDS: Final[dict[str, frozenset[str]]] = {
    "operator": frozenset({"operator"}),
    "manager": frozenset({"manager", "operator"}),
    "configurator": frozenset({"configurator", "operator"}),
    "admin": frozenset({"admin", "operator", "manager"}),
    "superuser": frozenset({"superuser", "admin", "operator", "manager"}),
    "maker": frozenset({"maker", "operator", "admin", "manager", "configurator"}),
}


def covers(held: Iterable[str], role: str) -> bool:
    """Tell whether someone holding ``held`` holds ``role`` for the purpose of managing
    accounts (``ACCOUNT_HOLDS``): ``superuser`` only by a superuser."""
    return any(role in ACCOUNT_HOLDS.get(h, frozenset()) for h in held)
