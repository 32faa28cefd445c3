"""Every page in Polish: each page (and each of its tabs) is switched to Polish and every visible
text node, placeholder and option must come from the Polish bundle; what is left once the bundle's
texts are taken out may only be numbers, dates, punctuation, units and the data the demo holds
(device numbers, customer and scenario names, user names...), which the test reads from the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page

from tests.e2e.conftest import login_ui

BUNDLES = Path(__file__).resolve().parents[2] / "src" / "fleet" / "web" / "static" / "i18n"
PAGES = [
    "/connect-plus-plus",
    "/connect-display",
    "/connect-manager",
    "/fleet-data-manager",
    "/fleet-config-manager",
    "/fleet-software-manager",
    "/admin",
]

# Collect the visible texts that are not from the bundle (see polish_check.js).
COLLECT = (Path(__file__).parent / "polish_check.js").read_text(encoding="utf-8")


def _data_values(base: str) -> list[str]:
    """The demo's data the pages show: names and numbers read from the API."""
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": "maker1", "password": "pass"})
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    # the language picker names each language in itself
    # and the translations grid heads its columns with the language codes
    values: set[str] = {"English", "Polski", "en", "pl", "maker1", "admin", "operator1"}

    def grab(path: str, *fields: str, **params: Any) -> None:
        answer = httpx.get(f"{base}/api/v1{path}", headers=h, params=params)
        if answer.status_code != 200:
            return
        for item in answer.json() if isinstance(answer.json(), list) else []:
            if not isinstance(item, dict):
                continue
            nested = item.get("contact_info") if isinstance(item.get("contact_info"), dict) else {}
            for field in fields:
                value = item.get(field, nested.get(field))
                if isinstance(value, str):
                    values.update({value, value.replace("_", " ")})

    grab("/fleet-data/customers", "name", "company", limit=500)
    grab("/fleet-data/devices", "device_number", "device_type", "kind_of_device", "serial_number",
         "customer_name", limit=500)
    grab("/scenarios", "name", "description", "device_type", limit=500)
    grab("/fleet-software/software", "name", "vendor", "description", "category", limit=500)
    grab("/fleet-software/rollouts", "name", "description", limit=500)
    grab("/users", "username", "role", limit=500)
    grab("/reports", "scenario_name", "device_number", "customer_name", "operator_name", limit=500)
    grab("/fleet-config/json-templates", "name", "description", "template_type", "category",
         limit=500)
    grab("/fleet-config/system-configs", "config_key", "description", limit=500)
    grab("/fleet-config/device-configs", "device_type", "name", limit=500)
    grab("/fleet-config/backups", "backup_name", limit=500)
    # the workshop's reasons (blocked, due) are composed by the server, in English for now
    ids = [d["id"] for d in httpx.get(f"{base}/api/v1/fleet-data/devices", headers=h,
                                      params={"limit": 500}).json()]
    states = httpx.get(f"{base}/api/v1/workshop/readiness", headers=h,
                       params={"device_ids": ",".join(map(str, ids))})
    for state in states.json() if states.status_code == 200 else []:
        for field in ("blocked_reason", "reason"):
            if isinstance(state.get(field), str):
                values.add(state[field])
    catalog = httpx.get(f"{base}/api/v1/tests/catalog", headers=h).json()
    for s in catalog["scenarios"]:
        for field in ("kind_of_test", "kind_of_device", "device_type"):
            if isinstance(s.get(field), str):
                values.update({s[field], s[field].replace("_", " ")})
    return sorted(values)


def test_every_page_is_polish(page: Page, live_server: str) -> None:
    pl = json.loads((BUNDLES / "pl.json").read_text(encoding="utf-8"))
    bundle = list(pl.values())
    data = _data_values(live_server)
    login_ui(page, live_server, "maker1")
    page.select_option("#lang-switch", "pl")
    page.wait_for_function("() => document.documentElement.lang === 'pl'")
    problems: dict[str, list[str]] = {}

    def check(where: str) -> None:
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        found = page.evaluate(COLLECT, [bundle, data])
        if found:
            problems[where] = found

    check("/")
    for path in PAGES:
        page.goto(f"{live_server}{path}")
        page.wait_for_function("() => document.documentElement.lang === 'pl'")
        tabs = page.locator(".tabs .tab[href^='#']:visible")
        names = [tabs.nth(i).get_attribute("href") for i in range(tabs.count())]
        if not names:
            check(path)
        for href in names:
            page.click(f".tabs .tab[href='{href}']")
            check(f"{path}{href}")
    report = "\n".join(f"{where}:\n  " + "\n  ".join(items) for where, items in problems.items())
    assert not problems, f"texts not from the Polish bundle:\n{report}"
