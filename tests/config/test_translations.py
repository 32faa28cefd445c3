"""Translations: upsert, filters, missing_in, grid, export/import, public UI bundles."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.config.translations import static_bundle
from fleet.models import SystemLog
from tests.config.conftest import API

URL = f"{API}/translations"


async def test_upsert_filters_missing_and_delete(
    client: httpx.AsyncClient, cfg: dict[str, str]
) -> None:
    r = await client.put(
        URL,
        json={"key": "demo.hello", "language": "en", "value": "Hello", "component": "CPP"},
        headers=cfg,
    )
    assert r.status_code == 200 and r.json()["value"] == "Hello"
    first = r.json()["id"]
    r = await client.put(
        URL, json={"key": "demo.hello", "language": "en", "value": "Hi"}, headers=cfg
    )
    assert r.json()["id"] == first and r.json()["value"] == "Hi"
    r = await client.put(
        URL,
        json=[
            {"key": "demo.bye", "language": "en", "value": "Bye"},
            {"key": "demo.bye", "language": "pl", "value": "Pa"},
        ],
        headers=cfg,
    )
    assert [t["language"] for t in r.json()] == ["en", "pl"]
    r = await client.get(URL, params={"missing_in": "pl"}, headers=cfg)
    assert [(t["key"], t["language"]) for t in r.json()] == [("demo.hello", "en")]
    r = await client.get(URL, params={"language": "en", "q": "by"}, headers=cfg)
    assert [t["key"] for t in r.json()] == ["demo.bye"]
    r = await client.get(URL, params={"component": "CPP"}, headers=cfg)
    assert r.headers["X-Total-Count"] == "1"
    r = await client.get(
        f"{URL}/grid", params={"languages": "en,pl", "only_missing": "true"}, headers=cfg
    )
    assert r.json() == [
        {"key": "demo.hello", "component": "CPP", "values": {"en": "Hi"}, "missing": ["pl"]}
    ]
    for bad in (
        {"key": "k", "language": "english!", "value": "x"},
        {"key": "k", "language": "en", "value": "   "},
        {"key": "bad key", "language": "en", "value": "x"},
    ):
        assert (await client.put(URL, json=bad, headers=cfg)).status_code == 422
    assert (await client.delete(f"{URL}/{first}", headers=cfg)).status_code == 204
    assert (await client.delete(f"{URL}/{first}", headers=cfg)).status_code == 404


async def test_export_and_import_a_language(client: httpx.AsyncClient, cfg: dict[str, str]) -> None:
    r = await client.post(f"{URL}/import/pl", json={"a.one": "Jeden", "a.two": "Dwa"}, headers=cfg)
    assert r.json() == {"language": "pl", "created": 2, "updated": 0, "unchanged": 0}
    r = await client.post(f"{URL}/import/pl", json={"a.one": "Jeden", "a.two": "Dwa!"}, headers=cfg)
    assert r.json() == {"language": "pl", "created": 0, "updated": 1, "unchanged": 1}
    r = await client.get(f"{URL}/export/pl", headers=cfg)
    assert r.json() == {"a.one": "Jeden", "a.two": "Dwa!"}
    assert "attachment" in r.headers["content-disposition"]
    r = await client.post(f"{URL}/import/pl", json={"a.one": "", "a.three": "Trzy"}, headers=cfg)
    assert r.status_code == 422 and r.json()["detail"]["errors"][0]["path"] == "/a.one"
    assert (await client.get(f"{URL}/export/pl", headers=cfg)).json() == {
        "a.one": "Jeden",
        "a.two": "Dwa!",
    }
    assert (await client.post(f"{URL}/import/xx_YY", json={}, headers=cfg)).status_code == 422


async def test_public_bundle_falls_back_to_english(
    client: httpx.AsyncClient, cfg: dict[str, str]
) -> None:
    en, pl = static_bundle("en"), static_bundle("pl")
    assert en and set(pl) <= set(en)
    await client.put(
        URL,
        json=[
            {"key": "only.english", "language": "en", "value": "Only English"},
            {"key": "shell.logout", "language": "pl", "value": "Wyloguj się"},
        ],
        headers=cfg,
    )
    r = await client.get("/api/v1/i18n/pl")
    assert r.status_code == 200
    bundle = r.json()
    assert bundle["only.english"] == "Only English"
    assert bundle["shell.logout"] == "Wyloguj się"
    assert set(en) <= set(bundle) and all(v.strip() for v in bundle.values())
    r = await client.get("/api/v1/i18n/de")
    assert r.json()["shell.logout"] == en["shell.logout"]
    assert (await client.get("/api/v1/i18n/../../etc")).status_code in (404, 422)
    assert (await client.get("/api/v1/i18n/x!")).status_code == 422
    assert {"en", "pl"} <= set((await client.get("/api/v1/i18n")).json())


async def test_access(client: httpx.AsyncClient, role_headers: dict[str, dict[str, str]]) -> None:
    assert (await client.get(URL)).status_code == 401
    assert (
        await client.put(
            URL, json={"key": "k", "language": "en", "value": "v"}, headers=role_headers["operator"]
        )
    ).status_code == 403


async def test_bulk_upsert_refuses_duplicates_and_audits_once(
    client: httpx.AsyncClient, cfg: dict[str, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    item = {"key": "demo.x", "language": "pl", "value": "X"}
    r = await client.put(URL, json=[item, {**item, "value": "Y"}], headers=cfg)
    assert r.status_code == 422 and r.json()["detail"]["errors"][0]["path"] == "/1"
    assert (await client.get(URL, headers=cfg)).json() == []
    r = await client.put(URL, json=[item, {**item, "language": "en", "value": "Ex"}], headers=cfg)
    assert r.status_code == 200 and len(r.json()) == 2
    r = await client.put(URL, json=[item], headers=cfg)
    assert r.status_code == 200
    async with sessionmaker() as session:
        logs = (
            await session.scalars(
                select(SystemLog).where(SystemLog.action == "config.translation.bulk")
            )
        ).all()
    assert len(logs) == 1 and logs[0].details["count"] == 2


async def test_only_missing_finds_a_key_a_shipped_bundle_lacks(
    client: httpx.AsyncClient, cfg: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleet.config import translations

    shipped = {
        "en": {"page.only_en": "Only English", "page.both": "Both"},
        "pl": {"page.both": "Oba"},
    }
    monkeypatch.setattr(translations, "static_bundle", lambda lang: shipped.get(lang, {}))
    r = await client.get(
        f"{URL}/grid", params={"languages": "en,pl", "only_missing": "true"}, headers=cfg
    )
    assert r.json() == [
        {
            "key": "page.only_en",
            "component": None,
            "values": {"en": "Only English"},
            "missing": ["pl"],
        }
    ]
    # a stored Polish text fills the gap
    await client.put(
        URL, json={"key": "page.only_en", "language": "pl", "value": "Tylko"}, headers=cfg
    )
    r = await client.get(
        f"{URL}/grid", params={"languages": "en,pl", "only_missing": "true"}, headers=cfg
    )
    assert r.json() == [] and r.headers["X-Total-Count"] == "0"
    r = await client.get(f"{URL}/grid", params={"languages": "en,pl", "q": "oba"}, headers=cfg)
    assert [row["key"] for row in r.json()] == ["page.both"]
