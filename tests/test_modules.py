"""The table of modules (fleet.modules) names what exists: codes, packages, pages, scripts,
API paths and text keys agree with the code, so a newcomer can trust it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from fleet.auth.roles import MODULES as ROLE_MODULES
from fleet.modules import MODULES, SHARED_PACKAGES, module
from fleet.web.pages import MODULE_PAGES

SRC = Path(__file__).resolve().parents[1] / "src" / "fleet"
WEB = SRC / "web"


def test_codes_are_the_role_tables_in_its_order() -> None:
    assert tuple(m.code for m in MODULES) == ROLE_MODULES
    assert module("CM").packages == ("scenarios",)
    assert module("CPP").pages[0].script == "connect.js"


def test_every_package_belongs_to_a_module_or_is_shared() -> None:
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    owned = [p for m in MODULES for p in m.packages]
    assert len(owned) == len(set(owned)), "a package listed under two modules"
    assert set(owned) | set(SHARED_PACKAGES) == packages


def test_pages_templates_and_scripts_exist() -> None:
    for m in MODULES:
        for page in m.pages:
            template = (WEB / "templates" / page.template).read_text(encoding="utf-8")
            if page.script is None:
                assert template.startswith("{% extends"), page
            else:
                assert (WEB / "static" / "js" / page.script).is_file(), page
                assert f"js/{page.script}" in template, page
    assert [(p.module, p.path, p.template) for p in MODULE_PAGES] == [
        (m.code, page.path, page.template) for m in MODULES for page in m.pages
    ]


async def test_api_paths_pages_and_text_keys(app: Any, client: httpx.AsyncClient) -> None:
    paths = list(app.openapi()["paths"])
    texts = json.loads((WEB / "static" / "i18n" / "en.json").read_text(encoding="utf-8"))
    for m in MODULES:
        for prefix in m.api:
            assert any(p.startswith(f"/api/v1{prefix}") for p in paths), (m.code, prefix)
        for page in m.pages:
            assert (await client.get(page.path)).status_code == 200, page
        assert any(key.startswith(f"{m.texts}.") for key in texts), m.code


def test_the_docs_table_matches() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "MODULES.md").read_text(encoding="utf-8")
    for m in MODULES:
        packages = ", ".join(f"`{p}/`" for p in m.packages)
        api = ", ".join(f"`/api/v1{p}`" for p in m.api)
        for i, page in enumerate(m.pages):
            script = f"`{page.script}`" if page.script else f"(extends `{m.pages[0].template}`)"
            head = (
                f"| `{m.code}` | {m.name} | {packages} | {api} |" if i == 0 else "|  |  |  |  |"
            )
            texts = f"`{m.texts}.*`" if i == 0 else ""
            row = f"{head} `{page.path}` | `{page.template}` | {script} | {texts} |"
            assert row in doc, row
