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
from fleet.devices_api.fanout import FanoutBus
from fleet.settings import Settings, sync_database_url
from tests.factories import PASSWORD as PASSWORD
from tests.factories import TEST_ROUNDS, add_user, bearer, login
from tests.support import empty_postgres

PG_URL = os.environ.get("FLEET_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


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
        empty_postgres(url)
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
async def close_event_bus(app: Any) -> AsyncIterator[None]:
    """Close the app's live-event bus after the test (on PostgreSQL it holds a connection)."""
    yield
    bus = app.state.events
    if isinstance(bus, FanoutBus):
        await bus.close()


@pytest.fixture
def sessionmaker(app: Any) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return factory


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
