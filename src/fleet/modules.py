"""One table of the product's modules and the names each goes by.

A module has a code (the role table's: ``auth.roles.MODULE_ROLES``, PRODUCT.md), a product name,
Python packages, API paths, pages with their template and script, and a prefix for its
interface texts. The names grew apart (Connect Manager is the ``scenarios`` package and the
``connect_manager.js`` script; Connect++ is ``runs`` and ``connect.js``); paths and commands are
an outward contract, so they stay, and this table says which belongs to which. The pages and
the navigation are built from it (``fleet.web.pages``); docs/MODULES.md shows it for readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Page:
    """A page of a module: its path, title, Jinja template and ES-module script."""

    path: str
    title: str
    template: str
    script: str | None  # under static/js; None when the template extends another page's


@dataclass(frozen=True)
class Module:
    code: str
    name: str
    packages: tuple[str, ...]  # under src/fleet
    api: tuple[str, ...]  # path prefixes under /api/v1
    pages: tuple[Page, ...]

    @property
    def texts(self) -> str:
        """The prefix of the module's keys in the translation bundles (``cpp.abort``)."""
        return self.code.lower()


# In the product's order (the navigation's).
MODULES: Final[tuple[Module, ...]] = (
    Module(
        "CPP",
        "Connect++",
        ("runs",),
        ("/tests", "/reports"),
        (
            Page("/connect-plus-plus", "Connect++", "connect.html", "connect.js"),
            Page("/connect-display", "Connect Display", "connect_display.html", None),
        ),
    ),
    Module(
        "CM",
        "Connect Manager",
        ("scenarios",),
        ("/scenarios",),
        (
            Page(
                "/connect-manager", "Connect Manager", "connect_manager.html", "connect_manager.js"
            ),
        ),
    ),
    Module(
        "FDM",
        "Fleet Data Manager",
        ("fleet_data",),
        ("/fleet-data",),
        (Page("/fleet-data-manager", "Fleet Data Manager", "fleet_data.html", "fleet_data.js"),),
    ),
    Module(
        "FCM",
        "Fleet Config Manager",
        ("config",),
        ("/fleet-config",),
        (Page("/fleet-config-manager", "Fleet Config Manager", "config.html", "config.js"),),
    ),
    Module(
        "FSM",
        "Fleet Software Manager",
        ("software",),
        ("/fleet-software",),
        (
            Page(
                "/fleet-software-manager", "Fleet Software Manager", "software.html", "software.js"
            ),
        ),
    ),
    Module(
        "FWM",
        "Fleet Workshop Manager",
        ("workshop",),
        ("/workshop",),
        (
            Page(
                "/fleet-workshop-manager", "Fleet Workshop Manager", "workshop.html", "workshop.js"
            ),
        ),
    ),
    Module(
        "ADMIN",
        "Users & audit log",
        ("users", "audit"),
        ("/users", "/logs"),
        (Page("/admin", "Users & audit log", "admin.html", "admin.js"),),
    ),
)

# Packages that belong to no one module: sign-in, the device-facing API (DDI, telemetry, live
# events; its credential endpoints sit under /fleet-data), operations, the page shell, the ORM
# (the database migrations are no package: src/fleet/migrations).
SHARED_PACKAGES: Final = ("auth", "devices_api", "ops", "web", "models")


def module(code: str) -> Module:
    """The module of a code (``KeyError`` for an unknown one)."""
    for candidate in MODULES:
        if candidate.code == code:
            return candidate
    raise KeyError(code)
