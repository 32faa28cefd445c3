"""Every page in Polish: each page (and each of its tabs), each page's dialogs and Connect++'s
running-test screen are switched to Polish and every visible text node, placeholder and option
must come from the Polish bundle; what is left once the bundle's texts are taken out may only be
numbers, dates, punctuation, units and the data the demo holds (device numbers, customer and
scenario names, user names...), which the test reads from the API."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

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
    "/fleet-workshop-manager",
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
    # the scenarios' steps are data too: Connect Manager's users name and describe them
    scenarios = httpx.get(f"{base}/api/v1/scenarios", headers=h, params={"limit": 500}).json()
    for scenario in scenarios:
        grab(f"/scenarios/{scenario['id']}/steps", "step_name", "description")
    grab("/fleet-software/software", "name", "vendor", "description", "category", limit=500)
    grab("/fleet-software/rollouts", "name", "description", limit=500)
    grab("/users", "username", "role", limit=500)
    grab("/reports", "scenario_name", "device_number", "customer_name", "operator_name", limit=500)
    # why an operator aborted a test is what he typed
    reports = httpx.get(f"{base}/api/v1/reports", headers=h, params={"limit": 500}).json()
    for report in reports:
        if report.get("status") == "aborted":
            detail = httpx.get(f"{base}/api/v1/reports/{report['id']}", headers=h).json()
            reason = ((detail.get("results") or {}).get("abort") or {}).get("reason")
            if isinstance(reason, str):
                values.add(reason)
    grab("/fleet-config/json-templates", "name", "description", "template_type", "category",
         limit=500)
    grab("/fleet-config/system-configs", "config_key", "description", limit=500)
    grab("/fleet-config/device-configs", "device_type", "name", limit=500)
    grab("/fleet-config/backups", "backup_name", limit=500)
    # the workshop's reasons are translated by the page; the rules they quote are data
    grab("/workshop/interval-rules", "name", "source_text", "kind_of_test", "component",
         limit=500)
    grab("/workshop/parts", "part_number", "name", limit=500)
    catalog = httpx.get(f"{base}/api/v1/tests/catalog", headers=h).json()
    for s in catalog["scenarios"]:
        for field in ("kind_of_test", "kind_of_device", "device_type"):
            if isinstance(s.get(field), str):
                values.update({s[field], s[field].replace("_", " ")})
    return sorted(values)


class Polish:
    """A browser page signed in as maker1 in Polish, and what the check found so far."""

    def __init__(self, page: Page, base: str) -> None:
        pl = json.loads((BUNDLES / "pl.json").read_text(encoding="utf-8"))
        self.page, self.base = page, base
        self.bundle = list(pl.values())
        self.data = _data_values(base)
        self.problems: dict[str, list[str]] = {}
        login_ui(page, base, "maker1")
        page.select_option("#lang-switch", "pl")
        page.wait_for_function("() => document.documentElement.lang === 'pl'")

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}")
        self.page.wait_for_function("() => document.documentElement.lang === 'pl'")

    def check(self, where: str) -> None:
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(300)
        found = self.page.evaluate(COLLECT, [self.bundle, self.data])
        if found:
            self.problems.setdefault(where, []).extend(found)

    def verdict(self) -> None:
        report = "\n".join(
            f"{where}:\n  " + "\n  ".join(items) for where, items in self.problems.items()
        )
        assert not self.problems, f"texts not from the Polish bundle:\n{report}"


def test_every_page_is_polish(page: Page, live_server: str) -> None:
    polish = Polish(page, live_server)
    check = polish.check

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
    polish.verdict()


def _first_row_button(page: Page, table: str, index: int) -> None:
    row = page.locator(f"{table} tbody tr").first
    expect(row.locator("button").first).to_be_visible()
    row.locator("button").nth(index).click()


def _last_row_button(page: Page, table: str) -> None:
    row = page.locator(f"{table} tbody tr").first
    expect(row.locator("button").first).to_be_visible()
    row.locator("button").last.click()


def _versions_then(page: Page, button: Callable[[Page], None]) -> None:
    _first_row_button(page, "#sw-table", 0)  # the first package's versions
    expect(page.locator("#versions-table tbody tr").first).to_be_visible()
    button(page)


# (page and tab, what opens the dialog, the dialog): every dialog of every page
DIALOGS: list[tuple[str, Callable[[Page], None], str]] = [
    ("/fleet-data-manager#devices", lambda p: p.click("#device-new"), "#device-dialog"),
    ("/fleet-data-manager#devices", lambda p: _first_row_button(p, "#devices-table", 0),
     "#history-dialog"),
    ("/fleet-data-manager#customers", lambda p: p.click("#customer-new"), "#customer-dialog"),
    ("/fleet-data-manager#reports", lambda p: _first_row_button(p, "#tab-reports table", 0),
     "#rb-detail"),
    ("/connect-plus-plus#reports", lambda p: _first_row_button(p, "#tab-reports table", 0),
     "#rb-detail"),
    ("/fleet-config-manager#system", lambda p: p.click("#sys-new"), "#json-dialog"),
    ("/fleet-config-manager#templates", lambda p: p.click("#tpl-new"), "#json-dialog"),
    ("/fleet-config-manager#devices", lambda p: _first_row_button(p, "#dev-table", 0),
     "#json-dialog"),
    ("/fleet-software-manager#catalog", lambda p: p.click("#sw-new"), "#sw-dialog"),
    ("/fleet-software-manager#catalog",
     lambda p: _versions_then(p, lambda q: q.click("#version-new")), "#version-dialog"),
    ("/fleet-software-manager#catalog",
     lambda p: _versions_then(p, lambda q: _first_row_button(q, "#versions-table", 0)),
     "#upload-dialog"),
    ("/fleet-software-manager#installations", lambda p: p.click("#inst-new"), "#inst-dialog"),
    ("/fleet-software-manager#installations", lambda p: _last_row_button(p, "#inst-table"),
     "#log-dialog"),
    ("/admin#users", lambda p: p.click("#user-new"), "#user-dialog"),
    ("/admin#users", lambda p: _first_row_button(p, "#users-table", 1), "#badge-dialog"),
    ("/fleet-workshop-manager#board", lambda p: p.locator(".fwm-order-open").first.click(),
     "#order-dialog"),
]


def _token(base: str, username: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": "pass"})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _installation_with_delivery_options(base: str) -> str:
    """An installation whose log shows every delivery option (window, confirmation)."""
    h = _token(base, "maker1")
    device = httpx.post(f"{base}/api/v1/fleet-data/devices", headers=_token(base, "manager1"),
                        json={"device_number": f"E2E-PL-{secrets.token_hex(3)}",
                              "device_type": "mask_tester", "kind_of_device": "full_face_mask"})
    assert device.status_code == 201, device.text
    software = httpx.get(f"{base}/api/v1/fleet-software/software", headers=h,
                         params={"limit": 500}).json()
    tool = next(s for s in software if s["name"] == "Calibration Tool")
    versions = httpx.get(f"{base}/api/v1/fleet-software/software/{tool['id']}/versions",
                         headers=h).json()
    r = httpx.post(f"{base}/api/v1/fleet-software/installations", headers=h, json={
        "device_id": device.json()["id"], "version_id": versions[0]["id"], "update_type": "soft",
        "confirmation_required": True,
        "maintenance_window": {"schedule": "0 0 2 ? * *", "duration": "02:00:00",
                               "timezone": "+01:00"},
    })
    assert r.status_code == 201, r.text
    return str(device.json()["device_number"])


def test_every_dialog_and_the_running_test_are_polish(page: Page, live_server: str) -> None:
    number = _installation_with_delivery_options(live_server)
    polish = Polish(page, live_server)
    for where, opens, dialog in DIALOGS:
        polish.goto(where)
        page.wait_for_load_state("networkidle")
        opens(page)
        shown: Locator = page.locator(dialog)
        expect(shown).to_be_visible()
        polish.check(f"{where} {dialog}")
        page.keyboard.press("Escape")
        expect(shown).to_be_hidden()
    # the installation log's delivery options, in words
    polish.goto("/fleet-software-manager#installations")
    page.locator("#inst-table tbody tr", has_text=number).locator("button").last.click()
    expect(page.locator("#log-delivery")).to_contain_text("okno serwisowe")
    polish.check("/fleet-software-manager#installations #log-dialog (delivery options)")
    page.keyboard.press("Escape")

    # Connect++: a test on a new tester, a manual step, a bench step on the live gauge, abort
    device = httpx.post(
        f"{live_server}/api/v1/fleet-data/devices",
        headers=_token(live_server, "manager1"),
        json={"device_number": f"E2E-PL-RUN-{secrets.token_hex(3)}",
              "device_type": "mask_tester", "kind_of_device": "full_face_mask"},
    )
    assert device.status_code == 201, device.text
    polish.goto("/connect-plus-plus")
    page.click('#cpp-choices [data-kind="full_face_mask"]')
    page.click('#cpp-choices [data-type="mask_tester"]')
    page.click('#cpp-choices [data-test="yearly"]')
    page.click('#cpp-choices [data-scenario="Yearly full-face mask test"]')
    polish.check("/connect-plus-plus (device choice)")
    page.fill("#cpp-device-q", device.json()["device_number"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#cpp-run:not([hidden])")
    polish.check("/connect-plus-plus (running test, manual step)")
    page.click("#cpp-passed")
    page.wait_for_selector('#cpp-steps li[data-order="1"][data-result="passed"]')
    expect(page.locator("#cpp-step-limits")).not_to_be_empty()
    polish.check("/connect-plus-plus (running test, bench step)")
    page.select_option("#cpp-speed", "20")
    page.click("#cpp-bench")
    page.wait_for_selector('#cpp-steps li[data-order="2"][data-result="passed"]', timeout=60_000)
    polish.check("/connect-plus-plus (running test, evaluated bench step)")
    page.click("#cpp-abort")
    expect(page.locator("#cpp-abort-dialog")).to_be_visible()
    polish.check("/connect-plus-plus #cpp-abort-dialog")
    reason = "sprawdzenie tłumaczenia"
    polish.data.append(reason)  # what the operator types is data
    page.fill("#cpp-abort-form [name=reason]", reason)
    page.click("#cpp-abort-form button[type=submit]")
    expect(page.locator("#cpp-abort-dialog")).to_be_hidden()
    polish.check("/connect-plus-plus (aborted test)")
    polish.verdict()
