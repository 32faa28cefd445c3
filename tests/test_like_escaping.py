"""``%`` and ``_`` typed into a search match themselves, not "anything", on every list that
searches with LIKE (one helper, ``fleet.search``), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.models import (
    Configuration,
    Customer,
    Device,
    JsonTemplate,
    Software,
    TestScenario,
    Translation,
)
from fleet.search import escape_like, like_pattern
from tests.conftest import add_user, bearer, login

# Three names per list: one with a literal '%', one with a literal '_', one that a wildcard
# would also match.
NAMES = ("ab%cd", "ab_cd", "abXcd")


def test_escape_like() -> None:
    assert escape_like("50%_a\\b") == "50\\%\\_a\\\\b"
    assert like_pattern("A%") == "%a\\%%"


async def _seed(factory: async_sessionmaker[AsyncSession]) -> None:
    async with factory() as session, session.begin():
        for i, name in enumerate(NAMES):
            session.add(TestScenario(name=f"scen {name}", description="d"))
            session.add(Software(name=f"sw {name}"))
            session.add(Customer(name=f"cust {name}", contact_info={}))
            session.add(Device(device_number=f"dev-{name}", device_type="t", serial_number=f"S{i}"))
            session.add(Configuration(config_key=f"key.{name}", config_value=1))
            session.add(Translation(key=f"tr.{name}", language="en", value="v"))
            session.add(
                JsonTemplate(
                    name=f"tpl {name}",
                    template_type="device_config",
                    category=f"c{i}",
                    schema_={},
                    default_values={},
                )
            )


LISTS: list[tuple[str, str, str]] = [
    # (path, field shown in the answer, prefix of the seeded names)
    ("/api/v1/scenarios", "name", "scen "),
    ("/api/v1/fleet-software/software", "name", "sw "),
    ("/api/v1/fleet-data/customers", "name", "cust "),
    ("/api/v1/fleet-data/devices", "device_number", "dev-"),
    ("/api/v1/tests/devices", "device_number", "dev-"),
    ("/api/v1/fleet-config/system-configs", "config_key", "key."),
    ("/api/v1/fleet-config/translations", "key", "tr."),
    ("/api/v1/fleet-config/json-templates", "name", "tpl "),
    ("/api/v1/fleet-config/device-configs", "device_number", "dev-"),
]


def _names(body: Any, field: str) -> set[str]:
    rows = body if isinstance(body, list) else body.get("items", [])
    return {row[field] for row in rows}


@pytest.mark.parametrize(("path", "field", "prefix"), LISTS)
async def test_wildcards_are_literal_in_q(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    path: str,
    field: str,
    prefix: str,
) -> None:
    await add_user(sessionmaker, "mk", "maker")
    h = bearer(await login(client, "mk"))
    await _seed(sessionmaker)
    for needle, expected in (("b%c", "ab%cd"), ("b_c", "ab_cd")):
        r = await client.get(path, headers=h, params={"q": needle})
        assert r.status_code == 200, r.text
        assert _names(r.json(), field) == {prefix + expected}, (path, needle, r.json())
    r = await client.get(path, headers=h, params={"q": "bXc"})
    assert _names(r.json(), field) == {prefix + "abXcd"}


async def test_users_q_and_role_filter(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessionmaker, "mk", "maker", ["admin"])
    await add_user(sessionmaker, "a_b", "operator", email="x%y@example.com")
    await add_user(sessionmaker, "axb", "operator", email="xzy@example.com")
    h = bearer(await login(client, "mk"))

    async def users(**params: str) -> set[str]:
        r = await client.get("/api/v1/users", headers=h, params=params)
        assert r.status_code == 200, r.text
        return {u["username"] for u in r.json()}

    assert await users(q="a_b") == {"a_b"}
    assert await users(q="_") == {"a_b"}
    assert await users(q="x%y") == {"a_b"}
    assert await users(q="%") == {"a_b"}
    assert await users(role="operator") == {"a_b", "axb"}
    assert await users(role="admin") == {"mk"}
    assert await users(role="%") == set()
    assert await users(role="_dmin") == set()
