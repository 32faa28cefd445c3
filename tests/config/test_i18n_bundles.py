"""The shipped UI text bundles cover the shell, landing, admin and config pages in English
and Polish, and English matches the markup (so English never changes a label)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.config.demo import seed_config, templates
from fleet.config.translations import STATIC_DIR
from fleet.models import JsonTemplate, Translation
from fleet.validation import check_template

WEB = Path(__file__).resolve().parents[2] / "src" / "fleet" / "web"
PAGES = ("base.html", "index.html", "admin.html", "config.html")
TAG = re.compile(r'data-i18n="([^"]+)"[^>]*>([^<]*)<')


def _bundle(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def test_bundles_cover_the_pages() -> None:
    en, pl = _bundle("en"), _bundle("pl")
    assert set(pl) <= set(en)
    assert all(v.strip() for v in [*en.values(), *pl.values()])
    for page in PAGES:
        html = (WEB / "templates" / page).read_text(encoding="utf-8")
        keys = re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html)
        assert keys, page
        for key in keys:
            assert key in en and key in pl, f"{page}: {key}"
        for key, text in TAG.findall(html):
            if text.strip():
                assert en[key] == " ".join(text.replace("&amp;", "&").split()), key
    js = (WEB / "static" / "js" / "config.js").read_text(encoding="utf-8")
    for key in re.findall(r'\bt\("([a-z0-9_.]+)"', js):
        assert key in en and key in pl, key


def test_demo_templates_are_valid() -> None:
    for tpl in templates():
        assert check_template(tpl["schema"], tpl["default_values"]) == [], tpl["name"]


async def test_demo_seeder_is_idempotent(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        first = await session.run_sync(seed_config)
        await session.commit()
        again = await session.run_sync(seed_config)
        await session.commit()
        assert first > 0 and again == 0
        langs = dict(
            (
                await session.execute(
                    select(Translation.language, func.count()).group_by(Translation.language)
                )
            ).all()
        )
        assert langs == {"en": len(_bundle("en")), "pl": len(_bundle("pl"))}
        kinds = set(
            (await session.execute(select(JsonTemplate.template_type, JsonTemplate.category))).all()
        )
        assert ("test_flow", "mask_tester") in kinds and (
            "system_config",
            "test_intervals",
        ) in kinds
