"""Idempotent demo data (development only): ``fleet demo``."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.auth.roles import ROLES
from fleet.auth.security import hash_password_sync
from fleet.config.demo import seed_config
from fleet.fleet_data.demo import seed_fleet_data, seed_fleet_history
from fleet.models import User
from fleet.scenarios.demo import seed_scenarios
from fleet.software.demo import seed_software
from fleet.workshop.demo import seed_workshop

DEMO_PASSWORD = "pass"  # noqa: S105 - documented demo credential, never used in production

DEMO_USERS: list[tuple[str, str, list[str], str]] = [
    ("maker1", "maker", list(ROLES), "maker1@example.com"),
    ("admin", "superuser", ["superuser", "admin"], "admin@example.com"),
    ("operator1", "operator", ["operator"], "operator1@example.com"),
    ("manager1", "manager", ["manager"], "manager1@example.com"),
    ("configurator", "configurator", ["configurator"], "configurator@example.com"),
]


def seed_users(session: Session, rounds: int) -> int:
    """Create the demo users that are missing; answers how many were created."""
    existing = set(session.scalars(select(User.username)))
    created = 0
    for username, role, roles, email in DEMO_USERS:
        if username in existing:
            continue
        ordered = [role, *[r for r in roles if r != role]]
        session.add(
            User(
                username=username,
                role=role,
                roles=ordered,
                email=email,
                password_hash=hash_password_sync(DEMO_PASSWORD, rounds),
                is_active=True,
            )
        )
        created += 1
    session.flush()
    return created


# Each module adds its seeding function here: (name, fn(session) -> rows created).
SEEDERS: list[tuple[str, Callable[[Session], int]]] = []
SEEDERS += [("fleet_data", seed_fleet_data)]  # first: others attach to its customers
SEEDERS += [("software", seed_software)]  # after the fleet data: roll-outs use its devices
SEEDERS += [("scenarios", seed_scenarios)]  # after the fleet data it may attach to
SEEDERS += [("config", seed_config)]  # settings, templates, en/pl translations
SEEDERS += [("fleet_history", seed_fleet_history)]  # its reports name scenarios
SEEDERS += [("workshop", seed_workshop)]  # last: reads the test history


def run(session: Session, rounds: int) -> dict[str, int]:
    """Seed everything; running it again creates nothing new."""
    report = {"users": seed_users(session, rounds)}
    for name, seeder in SEEDERS:
        report[name] = seeder(session)
    return report
