"""Schema fuzzing: Schemathesis over the whole ``/openapi.json`` of a live server.

Every operation gets a bounded number of generated requests, valid ones and invalid ones,
from a fixed seed, sent with the token of an all-roles user (active role ``maker``, which
reaches every module). Every answer must be below 500 and match what the OpenAPI document
declares: the status code, the content type and the body's schema. Each operation runs with a
throwaway all-roles user of its own, and the operations that end their caller's session
(logout, role switch, a change of one's own account...) sign in anew before every example, so
no operation can cut the fuzzer off from the ones after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from fleet.auth.roles import ROLES
from fleet.auth.security import hash_password_sync
from fleet.models import User
from fleet.settings import Settings, sync_database_url
from tests.support import clean_env, run_fleet, serve

EXAMPLES = int(os.environ.get("FLEET_FUZZ_EXAMPLES", "5"))
SEED = 20261130
PASSWORD = "fuzz-pass-1"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Operations whose success ends or changes the caller's own session or account: they sign in
# with a fresh throwaway user before every example.
SESSION_ENDING = {
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/switch-role"),
    ("POST", "/api/v1/auth/refresh"),
    ("PATCH", "/api/v1/users/{user_id}"),
    ("DELETE", "/api/v1/users/{user_id}"),
    ("POST", "/api/v1/users/{user_id}/qr-code"),
    ("POST", "/api/v1/fleet-config/restore"),
}


@pytest.fixture
def fuzz_server(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Settings, Path]]:
    """Serve the app with demo data on a free port (the test's database); answers its URL."""
    env = clean_env(
        FLEET_DATA_DIR=str(settings.data_dir),
        FLEET_DATABASE_URL=settings.resolved_database_url(),
        FLEET_ENV="test",
        FLEET_SECRET_KEY="fuzz-secret-key-that-is-long-enough-for-hs256",
        FLEET_BCRYPT_ROUNDS="4",
        # The fuzzer signs in thousands of times from one address.
        FLEET_LOGIN_MAX_FAILURES_PER_USER="1000000",
        FLEET_LOGIN_MAX_FAILURES_PER_IP="1000000",
    )
    run_fleet("demo", env=env, timeout=300)
    log_path = tmp_path / "server.log"
    with serve(env, log_path) as served:
        yield served.base, settings, log_path


class Users:
    """Throwaway all-roles users, inserted straight into the database."""

    def __init__(self, base: str, settings: Settings) -> None:
        self.base = base
        self.engine = create_engine(sync_database_url(settings.resolved_database_url()))
        self.hash = hash_password_sync(PASSWORD, 4)
        self.count = 0

    def token(self) -> dict[str, str]:
        """Create a fresh user holding every role, sign in as maker, answer the auth header."""
        self.count += 1
        name = f"fuzz_{self.count}"
        with Session(self.engine) as session, session.begin():
            session.add(
                User(
                    username=name,
                    role="maker",
                    roles=["maker", *[r for r in ROLES if r != "maker"]],
                    is_active=True,
                    password_hash=self.hash,
                )
            )
        r = httpx.post(
            f"{self.base}/api/v1/auth/login", json={"username": name, "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _run_operation(operation: Any, mode: GenerationMode, users: Users, base: str) -> str | None:
    """Fuzz one operation in one generation mode; answer the first failure, if any."""
    fresh_each_time = (operation.method.upper(), operation.path) in SESSION_ENDING
    shared = {} if fresh_each_time else users.token()
    failure: list[str] = []

    @seed(SEED)
    @hsettings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        if failure:
            return
        headers = users.token() if fresh_each_time else shared
        try:
            response = case.call(base_url=base, headers=headers, timeout=60)
        except requests.RequestException as exc:  # e.g. a stream cut off by a server error
            failure.append(f"{exc!r} on {case.method} {case.formatted_path} {case.query!r}")
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, BaseExceptionGroup) as exc:  # a failed check
            failure.append(f"{exc}"[:1500])

    try:
        check()
    except Unsatisfiable:  # nothing to make invalid (an operation without inputs)
        assert mode is GenerationMode.NEGATIVE
    return failure[0] if failure else None


def _server_errors(log_path: Path) -> str:
    """The last lines of each traceback the server logged, to tell a 500's cause."""
    lines = log_path.read_text(errors="replace").splitlines()
    ends = [i for i, line in enumerate(lines) if line and not line.startswith((" ", "Traceback"))
            and i > 0 and lines[i - 1].startswith("  ")]
    return "\n".join(lines[i] for i in ends[-20:])


def test_schema_fuzzing(fuzz_server: tuple[str, Settings, Path]) -> None:
    """Zero server errors and zero answers outside the declared schema, on every operation."""
    base, settings, log_path = fuzz_server
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"output": {"sanitization": {"enabled": False}}}
    )
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=config)
    users = Users(base, settings)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 100
    only = os.environ.get("FLEET_FUZZ_ONLY")
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        if only and only not in label:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            problem = _run_operation(operation, mode, users, base)
            if problem:
                failures.append(f"{label} [{mode.value}]: {problem}")
    users.engine.dispose()
    assert not failures, (
        f"{len(failures)} failing operations:\n\n"
        + "\n\n".join(failures)
        + "\n\nserver errors:\n"
        + _server_errors(log_path)
    )
