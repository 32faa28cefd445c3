"""The workshop page is served and every text on it is in the English and Polish bundles."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from fleet.config.translations import STATIC_DIR

WEB = Path(__file__).resolve().parents[2] / "src" / "fleet" / "web"
TAG = re.compile(r'data-i18n="([^"]+)"[^>]*>([^<]*)<')


def _bundle(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def test_texts_are_translated() -> None:
    en, pl = _bundle("en"), _bundle("pl")
    html = (WEB / "templates" / "workshop.html").read_text(encoding="utf-8")
    keys = set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html))
    js = (WEB / "static" / "js" / "workshop.js").read_text(encoding="utf-8")
    keys |= set(re.findall(r'\bt\("([a-z0-9_.]+)"', js))
    keys |= {f"fwm.state.{s}" for s in ("proposed", "open", "in_progress", "done", "canceled")}
    keys |= {"fwm.readiness", "nav.fleet_workshop_manager"}
    missing = sorted(k for k in keys if k not in en or k not in pl)
    assert missing == []
    for key, text in TAG.findall(html):
        if text.strip():
            assert en[key] == " ".join(text.split()), key
    assert pl["fwm.title"] == "Menedżer warsztatu"


async def test_page_is_served(client: httpx.AsyncClient) -> None:
    r = await client.get("/fleet-workshop-manager")
    assert r.status_code == 200 and "/static/js/workshop.js" in r.text
    assert "Fleet Workshop Manager" in r.text
