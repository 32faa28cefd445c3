"""Shared fixtures: every database test runs on SQLite, and on PostgreSQL when
``FLEET_TEST_DATABASE_URL`` is set (CI always sets it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet import migrate
from fleet.app import create_app
from fleet.auth.security import hash_password_sync
from fleet.models import User
from fleet.settings import Settings, sync_database_url

PG_URL = os.environ.get("FLEET_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]
TEST_ROUNDS = 4
PASSWORD = "correct-horse"


@dataclass
class Backend:
    name: str
    template: str  # URL of the migrated database
    workdir: Path

    def fresh_url(self, tmp: Path) -> str:
        """Return the URL of an empty, migrated database for one test."""
        if self.name == "sqlite":
            target = tmp / "fleet.db"
            shutil.copyfile(Path(self.template.removeprefix("sqlite:///")), target)
            return f"sqlite:///{target}"
        return self.template


def _reset_postgres(url: str) -> None:
    engine = create_engine(sync_database_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def truncate_postgres(url: str) -> None:
    """Empty every table but Alembic's, resetting sequences."""
    engine = create_engine(sync_database_url(url))
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        if tables:
            conn.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
                )
            )
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    workdir = tmp_path_factory.mktemp(f"db-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'template.db'}"
    else:
        assert PG_URL
        url = PG_URL
        _reset_postgres(url)
    migrate.upgrade(Settings(env="test", data_dir=workdir, database_url=url))
    return Backend(request.param, url, workdir)


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Iterator[Settings]:
    url = backend.fresh_url(tmp_path)
    yield Settings(
        env="test",
        data_dir=tmp_path / "data",
        database_url=url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",  # type: ignore[arg-type]
        bcrypt_rounds=TEST_ROUNDS,
    )
    if backend.name == "postgresql":
        truncate_postgres(url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def sessionmaker(app: Any) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return factory


async def add_user(
    factory: async_sessionmaker[AsyncSession],
    username: str,
    role: str,
    roles: list[str] | None = None,
    *,
    password: str = PASSWORD,
    is_active: bool = True,
    qr_code: str | None = None,
    email: str | None = None,
) -> User:
    """Insert a user straight into the database."""
    all_roles = [role, *[r for r in (roles or []) if r != role]]
    async with factory() as session, session.begin():
        user = User(
            username=username,
            role=role,
            roles=all_roles,
            is_active=is_active,
            password_hash=hash_password_sync(password, TEST_ROUNDS),
            qr_code=qr_code,
            email=email,
        )
        session.add(user)
    return user


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> dict[str, Any]:
    """Log in with JSON and answer the token response."""
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


ROLE_USERS = {
    "operator": ["operator"],
    "admin": ["admin"],
    "superuser": ["superuser"],
    "manager": ["manager"],
    "configurator": ["configurator"],
    "maker": ["maker"],
}


@pytest.fixture
async def role_headers(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> dict[str, dict[str, str]]:
    """One signed-in user per role (that role only); answers auth headers by role."""
    headers = {}
    for role in ROLE_USERS:
        await add_user(sessionmaker, f"u_{role}", role)
        headers[role] = bearer(await login(client, f"u_{role}"))
    return headers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: sync Playwright keeps an event loop running for the rest of
    the session, and async tests collected after it could not start their own."""
    items.sort(key=lambda item: "e2e" in item.nodeid.split("/")[:2])
