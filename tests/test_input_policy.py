"""The input policy: every poison value is refused on every write path, nothing is written.

Write paths: the API (checked at the edge, before any route), the CSV and JSON import, the
configuration restore and the whole-database restore. Plus the body limits (enforced while the
body streams, without a token), 503 when the database is gone, and token claims of the wrong
type.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet import migrate
from fleet.app import create_app
from fleet.config import dbdump
from fleet.db import create_sync_engine, install_sqlite_pragmas
from fleet.models import Customer, JsonTemplate, Translation
from fleet.settings import Settings, sync_database_url
from tests.conftest import add_user, bearer, login

DEEP_40 = "[" * 40 + "]" * 40
# (name, JSON text of a value for a JSON field): each one must never be stored
JSON_POISONS = [
    ("nan", "NaN"),
    ("infinity", "-Infinity"),
    ("float overflow", "1e400"),
    ("huge integer", "1" + "0" * 400),
    ("int64 overflow", str(2**63)),
    ("nul in a string", '"a\\u0000b"'),
    ("nul in a key", '{"a\\u0000": 1}'),
    ("too deep", DEEP_40),
]


@pytest.fixture
async def maker(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    await add_user(sessionmaker, "mk", "maker", ["admin", "configurator", "manager"])
    return bearer(await login(client, "mk"))


async def _customers(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as s:
        return int(await s.scalar(select(func.count()).select_from(Customer)) or 0)


# ---------------------------------------------------------------- the API, at the edge


@pytest.mark.parametrize(("name", "poison"), JSON_POISONS)
async def test_api_refuses_each_json_poison(
    client: httpx.AsyncClient, maker: Any, sessionmaker: Any, name: str, poison: str
) -> None:
    body = '{"name": "Acme", "contact_info": {"x": ' + poison + "}}"
    r = await client.post(
        "/api/v1/fleet-data/customers",
        content=body,
        headers={**maker, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, (name, r.text)
    assert isinstance(r.json()["detail"], list)
    assert r.json()["detail"][0]["loc"][0] == "body"
    assert await _customers(sessionmaker) == 0


async def test_api_refuses_nul_in_text_path_and_query(
    client: httpx.AsyncClient, maker: Any, sessionmaker: Any
) -> None:
    r = await client.post(
        "/api/v1/fleet-data/customers", json={"name": "Ac\x00me"}, headers=maker
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "name"]
    r = await client.post("/api/v1/auth/login", json={"username": "a\x00", "password": "x"})
    assert r.status_code == 422
    r = await client.get("/api/v1/users", params={"q": "a\x00b"}, headers=maker)
    assert r.status_code == 422
    r = await client.get(
        "/api/v1/fleet-config/system-configs/by-key/a%00b", headers=maker
    )
    assert r.status_code == 404
    assert await _customers(sessionmaker) == 0


async def test_login_nested_ten_thousand_deep_is_a_4xx(client: httpx.AsyncClient) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    r = await client.post(
        "/api/v1/auth/login", content=deep, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/auth/login",
        content='{"username": ' + deep + ', "password": "x"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422


async def test_integers_outside_the_columns_range(client: httpx.AsyncClient, maker: Any) -> None:
    for path in ("/api/v1/users/2147483648", "/api/v1/scenarios/99999999999999999999",
                 "/api/v1/fleet-software/rollouts/-2147483649"):
        r = await client.get(path, headers=maker)
        assert r.status_code == 404, (path, r.text)
        assert r.json() == {"detail": "Not found"}
    r = await client.get("/api/v1/users", params={"skip": 2**63}, headers=maker)
    assert r.status_code == 422
    r = await client.get("/api/v1/fleet-data/devices", params={"skip": 2**31}, headers=maker)
    assert r.status_code == 422
    r = await client.get("/api/v1/fleet-data/devices", params={"skip": 2**31 - 1}, headers=maker)
    assert r.status_code == 200
    assert r.json() == []


async def test_timestamps_outside_1900_to_9999_are_refused(
    client: httpx.AsyncClient, maker: Any
) -> None:
    for when in ("0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "1109-12-13T04:12:05-03:44"):
        r = await client.get("/api/v1/reports/export", params={"to": when}, headers=maker)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", "to"]
    r = await client.get(
        "/api/v1/reports/export", params={"to": "1900-01-01T00:00:00Z"}, headers=maker
    )
    assert r.status_code == 200


# ---------------------------------------------------------------- token claims


@pytest.mark.parametrize(
    "claims",
    [
        {"sid": 12345},
        {"sid": None},
        {"sid": ["a"]},
        {"sid": "a\x00b"},
        {"sub": 1},
        {"sub": "1; drop"},
        {"sub": {"id": 1}},
        {"role": 7},
    ],
)
async def test_unreadable_token_claims_are_401(
    client: httpx.AsyncClient, settings: Settings, claims: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    payload = {"sub": "1", "sid": "s", "role": "maker", "type": "access", "iat": now,
               "exp": now + timedelta(minutes=5), **claims}
    token = jwt.encode(payload, settings.jwt_secret(), algorithm="HS256")
    r = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.json() == {"detail": "Invalid token"}


# ---------------------------------------------------------------- body limits


async def test_large_body_without_token_is_refused_while_streaming(
    app: Any,
) -> None:
    """A 20 MB JSON array, streamed without a length: 413 after ~2 MB, the rest never read."""
    chunk = b"[" + b"1," * 32_767 + b"1]"  # 64 KiB
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(320):  # 20 MiB
            sent += 1
            yield chunk

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.post(
            "/api/v1/fleet-data/customers",
            content=body(),
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 413
    assert "detail" in r.json()
    assert sent * len(chunk) <= app.state.settings.max_json_body_kb * 1024 + 2 * len(chunk)


async def test_declared_length_over_the_limit_is_refused_before_reading(
    client: httpx.AsyncClient,
) -> None:
    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("the body must not be read")
        yield b""  # pragma: no cover

    r = await client.post(
        "/api/v1/auth/login",
        content=never(),
        headers={"Content-Type": "application/json", "Content-Length": str(50 * 1024 * 1024)},
    )
    assert r.status_code == 413


async def test_import_body_over_its_limit_is_413(
    client: httpx.AsyncClient, maker: Any, settings: Settings, sessionmaker: Any
) -> None:
    big = b"name\n" + b"x" * (settings.max_import_mb * 1024 * 1024 + 10)
    r = await client.post(
        "/api/v1/fleet-data/import",
        params={"entity": "customers"},
        headers=maker,
        files={"file": ("a.csv", big, "text/csv")},
    )
    assert r.status_code == 413
    assert await _customers(sessionmaker) == 0


async def test_json_limit_is_a_setting(settings: Settings) -> None:
    small = settings.model_copy(update={"max_json_body_kb": 1})
    app = create_app(small)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.post("/api/v1/auth/login", json={"username": "u" * 2000, "password": "p"})
            assert r.status_code == 413
            r = await c.post("/api/v1/auth/login", json={"username": "u", "password": "p"})
            assert r.status_code == 401
    finally:
        await app.state.engine.dispose()


# ---------------------------------------------------------------- database down


@pytest.mark.parametrize(
    "url", ["postgresql://postgres@127.0.0.1:1/gone", "sqlite:////nonexistent-dir/x/fleet.db"]
)
async def test_database_down_is_503_with_retry_after(tmp_path: Path, url: str) -> None:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        database_url=url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",  # type: ignore[arg-type]
    )
    app = create_app(settings)
    token = jwt.encode(
        {"sub": "1", "sid": "s", "type": "access", "iat": datetime.now(UTC),
         "exp": datetime.now(UTC) + timedelta(minutes=5)},
        settings.jwt_secret(),
        algorithm="HS256",
    )
    auth = {"Authorization": f"Bearer {token}"}
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            calls = [
                ("POST", "/api/v1/auth/login", {"json": {"username": "a", "password": "b"}}),
                ("GET", "/api/v1/users", {"headers": auth}),
                ("GET", "/api/v1/fleet-data/devices", {"headers": auth}),
                ("GET", "/api/v1/i18n/en", {}),
                ("GET", "/DEFAULT/controller/v1/dev-1",
                 {"headers": {"Authorization": "TargetToken abc"}}),
            ]
            for method, path, kwargs in calls:
                r = await asyncio.wait_for(c.request(method, path, **kwargs), 30)
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert r.headers["retry-after"].isdigit()
                assert r.headers["content-type"].startswith("application/json")
                assert "detail" in r.json()
            r = await c.get("/health")
            assert r.status_code == 503
    finally:
        await app.state.engine.dispose()


# ---------------------------------------------------------------- CSV and JSON import


async def _import(client: httpx.AsyncClient, headers: Any, name: str, content: str) -> Any:
    return await client.post(
        "/api/v1/fleet-data/import",
        headers=headers,
        params={"entity": "customers", "dry_run": "false"},
        files={"file": (name, content.encode(), "application/octet-stream")},
    )


def _csv_cell(text_: str) -> str:
    return '"' + text_.replace('"', '""') + '"'


@pytest.mark.parametrize(("name", "poison"), JSON_POISONS)
async def test_csv_and_json_import_refuse_each_json_poison(
    client: httpx.AsyncClient, maker: Any, sessionmaker: Any, name: str, poison: str
) -> None:
    csv_text = "name,contact_info\nAcme," + _csv_cell('{"x": ' + poison + "}") + "\n"
    r = await _import(client, maker, "c.csv", csv_text)
    assert r.status_code in (400, 422), (name, r.text)
    json_text = '[{"name": "Acme", "contact_info": {"x": ' + poison + "}}]"
    r = await _import(client, maker, "c.json", json_text)
    assert r.status_code in (400, 422), (name, r.text)
    assert await _customers(sessionmaker) == 0


async def test_import_refuses_nul_cells_and_timestamps_out_of_range(
    client: httpx.AsyncClient, maker: Any, sessionmaker: Any
) -> None:
    r = await _import(client, maker, "c.csv", "name,contact_info\nAc\x00me,\n")
    assert r.status_code in (400, 422), r.text
    assert "NUL" in r.text
    r = await _import(client, maker, "c.json", '[{"name": "Ac\\u0000me"}]')
    assert r.status_code in (400, 422), r.text
    for when in ("0001-01-01T00:00:00Z", "1899-12-31T00:00:00Z", "9999-12-31T23:59:59-05:00"):
        r = await _import(client, maker, "c.csv", f"name,contact_info,created_at\nAcme,,{when}\n")
        assert r.status_code in (400, 422), (when, r.text)
        r = await _import(
            client, maker, "c.json", json.dumps([{"name": "Acme", "created_at": when}])
        )
        assert r.status_code in (400, 422), (when, r.text)
    assert await _customers(sessionmaker) == 0
    r = await _import(
        client, maker, "c.csv", "name,contact_info,created_at\nAcme,,1900-01-01T00:00:00Z\n"
    )
    assert r.status_code == 200, r.text
    assert await _customers(sessionmaker) == 1


# ---------------------------------------------------------------- configuration restore


async def test_config_restore_refuses_poison_and_changes_nothing(
    client: httpx.AsyncClient, maker: Any, sessionmaker: Any, settings: Settings
) -> None:
    r = await client.post("/api/v1/fleet-config/backup", headers=maker, json={})
    assert r.status_code == 201, r.text
    backup = (await client.get(f"/api/v1/fleet-config/backups/{r.json()['id']}",
                               headers=maker)).json()
    data = backup.get("data") or backup.get("backup_data")
    assert isinstance(data, dict)
    tables = data["tables"]

    async def translations() -> int:
        async with sessionmaker() as s:
            return int(await s.scalar(select(func.count()).select_from(Translation)) or 0)

    before = await translations()
    for poison in ('"a\\u0000b"', "NaN", "1e400", DEEP_40):
        row = '{"key": "k.x", "language": "en", "value": ' + poison + ', "component": null}'
        doc = json.dumps({**data, "tables": {**tables, "translations": []}})
        doc = doc.replace('"translations": []', '"translations": [' + row + "]")
        r = await client.post(
            "/api/v1/fleet-config/restore",
            content='{"restore_data": ' + doc + "}",
            headers={**maker, "Content-Type": "application/json"},
        )
        assert r.status_code == 422, (poison, r.text)
    # a value the edge lets through (small body) but a JSON field may not hold
    small = settings.model_copy(update={"json_field_max_kb": 1})
    app = create_app(small)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            configs = [{"config_key": "big.value", "config_value": {"v": "x" * 4000},
                        "component": None, "updated_by": None}]
            doc2 = {**data, "tables": {**tables, "configurations": configs}}
            r = await c.post("/api/v1/fleet-config/restore", json={"restore_data": doc2},
                             headers=maker)
            assert r.status_code == 422, r.text
    finally:
        await app.state.engine.dispose()
        from fleet.validation import configure

        configure(settings.json_max_depth, settings.json_field_max_kb * 1024)
    assert await translations() == before


# ---------------------------------------------------------------- whole-database restore


def _poisoned_source(tmp_path: Path, column: str, raw: Any) -> bytes:
    """A dump of a SQLite database holding one customer row with a poisoned value, written
    around the policy (as an old or tampered database would hold it)."""
    url = f"sqlite:///{tmp_path / 'src.db'}"
    (tmp_path / "src.db").unlink(missing_ok=True)
    migrate.upgrade(Settings(env="test", data_dir=tmp_path, database_url=url))
    with sqlite3.connect(tmp_path / "src.db") as conn:
        values = {"name": "Acme", "contact_info": None, "created_at": "2026-01-01 00:00:00"}
        values[column] = raw
        conn.execute(
            "INSERT INTO customers (name, contact_info, created_at) VALUES (?, ?, ?)",
            (values["name"], values["contact_info"], values["created_at"]),
        )
    engine = create_engine(sync_database_url(url))
    install_sqlite_pragmas(engine)
    out = io.BytesIO()
    try:
        dbdump.dump(engine, out)
    finally:
        engine.dispose()
    return out.getvalue()


DB_POISONS = [
    ("name", "Ac\x00me"),
    ("contact_info", '{"x": NaN}'),
    ("contact_info", '{"x": 1e400}'),
    ("contact_info", '{"x": ' + "1" * 400 + "}"),
    ("contact_info", '{"x": ' + DEEP_40 + "}"),
    ("created_at", "0001-01-01 00:00:00"),
]


def test_database_restore_refuses_each_poison(settings: Settings, tmp_path: Path) -> None:
    target = create_sync_engine(settings)
    try:
        for column, raw in DB_POISONS:
            data = _poisoned_source(tmp_path, column, raw)
            with pytest.raises(dbdump.DumpError) as caught:
                dbdump.restore(target, io.BytesIO(data), replace=True)
            assert "refused" in str(caught.value), (column, raw, caught.value)
            with target.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM customers")).scalar_one() == 0
        # the same file without the poison restores
        data = _poisoned_source(tmp_path, "name", "Acme")
        dbdump.restore(target, io.BytesIO(data), replace=True)
        with target.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM customers")).scalar_one() == 1
    finally:
        target.dispose()


async def test_large_streamed_artifact_still_uploads(
    client: httpx.AsyncClient, maker: Any, settings: Settings
) -> None:
    """Artifacts have their own, much larger limit: 25 MiB streamed without a length passes
    the JSON and import limits and is stored whole."""
    r = await client.post(
        "/api/v1/fleet-software/software",
        json={"name": "FW", "category": "firmware", "vendor": "Acme", "platform": "arm"},
        headers=maker,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/fleet-software/software/{r.json()['id']}/versions",
        json={"version_number": "1.0.0"},
        headers=maker,
    )
    assert r.status_code == 201, r.text
    version_id = r.json()["id"]
    piece = b"z" * (1024 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.swu"\r\n\r\n'
        for _ in range(25):
            yield piece
        yield b"\r\n--b--\r\n"

    r = await client.post(
        f"/api/v1/fleet-software/versions/{version_id}/artifact",
        content=chunks(),
        headers={**maker, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["file_size"] == 25 * 1024 * 1024


def test_database_restore_refuses_an_id_its_columns_cannot_hold(
    settings: Settings, backend: Any, tmp_path: Path
) -> None:
    """SQLite's integers are 64-bit, PostgreSQL's INTEGER 32-bit: the column's type decides on
    both databases, so such a row is refused with one line and nothing is restored."""
    url = f"sqlite:///{tmp_path / 'src.db'}"
    migrate.upgrade(Settings(env="test", data_dir=tmp_path, database_url=url))
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.execute("INSERT INTO customers (id, name) VALUES (?, 'Acme')", (2**40,))
    source = create_engine(sync_database_url(url))
    out = io.BytesIO()
    try:
        dbdump.dump(source, out)
    finally:
        source.dispose()
    target = create_sync_engine(settings)
    try:
        with pytest.raises(dbdump.DumpError, match="cannot hold"):
            dbdump.restore(target, io.BytesIO(out.getvalue()), replace=True)
        with target.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM customers")).scalar_one() == 0
    finally:
        target.dispose()


@pytest.mark.parametrize("value", [2**31, 2**63 - 1])
async def test_api_write_beyond_an_integer_columns_type_is_422_and_stores_nothing(
    client: httpx.AsyncClient, maker: Any, sessionmaker: Any, value: int
) -> None:
    """A template id in a configuration restore has no upper bound in the document's schema;
    the column is an INTEGER, so on both databases a value past 2^31 - 1 is refused as
    PostgreSQL refuses it, and nothing of the restore is written."""
    r = await client.post("/api/v1/fleet-config/backup", headers=maker, json={})
    assert r.status_code == 201, r.text
    backup = (await client.get(f"/api/v1/fleet-config/backups/{r.json()['id']}",
                               headers=maker)).json()
    data = backup.get("data") or backup.get("backup_data")
    assert isinstance(data, dict)

    def with_template(template_id: int) -> dict[str, Any]:
        template = {"id": template_id, "name": f"t{template_id}", "template_type": "probe",
                    "category": None, "schema": {"type": "object"}, "default_values": {},
                    "description": None, "is_active": True, "created_by": None}
        tables = data["tables"]
        return {**data, "tables": {**tables,
                                   "json_templates": [*tables["json_templates"], template]}}

    async def stored(template_id: int) -> int:
        async with sessionmaker() as s:
            where = JsonTemplate.template_type == "probe"
            count = await s.scalar(select(func.count()).select_from(JsonTemplate).where(where))
            found = await s.scalar(select(JsonTemplate.id).where(where))
            return int(count or 0) if found in (None, template_id) else -1

    r = await client.post("/api/v1/fleet-config/restore",
                          json={"restore_data": with_template(value)}, headers=maker)
    assert r.status_code == 422, r.text
    problem = r.json()["detail"][0]
    assert problem["loc"][0] == "body" and problem["type"] == "value_error", problem
    assert await stored(value) == 0
    inside = 2**31 - 1
    r = await client.post("/api/v1/fleet-config/restore",
                          json={"restore_data": with_template(inside)}, headers=maker)
    assert r.status_code == 200, r.text
    assert await stored(inside) == 1
