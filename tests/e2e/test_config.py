"""Fleet Config Manager in a browser: the UI language switch with English fallback, the
translations grid, live validation of a setting, and a backup's dry-run diff and restore."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui

API = "/api/v1/fleet-config"


def _headers(base: str, user: str = "configurator") -> dict[str, str]:
    tokens = httpx.post(f"{base}/api/v1/auth/login", json={"username": user, "password": "pass"})
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def test_language_switch_falls_back_to_english(page: Page, live_server: str) -> None:
    headers = _headers(live_server)
    r = httpx.put(
        f"{live_server}{API}/translations",
        headers=headers,
        json={"key": "e2e.only_english", "language": "en", "value": "Only in English"},
    )
    assert r.status_code == 200
    login_ui(page, live_server, "configurator")
    page.goto(f"{live_server}/fleet-config-manager#system")
    expect(page.locator(".tab[data-tab=system]")).to_have_text("System config")
    page.select_option("#lang-switch", "pl")
    expect(page.locator(".tab[data-tab=system]")).to_have_text("Konfiguracja systemu")
    expect(page.locator("#logout")).to_have_text("Wyloguj")
    expect(page.locator("#nav a[data-module=FCM]")).to_have_text("Menedżer konfiguracji")
    # Elements added later are translated too; a key Polish lacks shows English, never blank.
    page.evaluate(
        """() => {
        const make = (id, key, text) => {
            const p = document.createElement("p");
            p.id = id; p.dataset.i18n = key; p.textContent = text;
            return p;
        };
        document.querySelector("h1").after(
            make("fb1", "e2e.only_english", "markup"), make("fb2", "e2e.nowhere", "Markup text"));
    }"""
    )
    expect(page.locator("#fb1")).to_have_text("Only in English")
    expect(page.locator("#fb2")).to_have_text("Markup text")
    # An English text edited in the translations table replaces the markup's own wording.
    edit = {"key": "fcm.tab_backups", "language": "en", "value": "Saved backups"}
    assert httpx.put(f"{live_server}{API}/translations", headers=headers, json=edit).is_success
    try:
        page.select_option("#lang-switch", "en")
        expect(page.locator(".tab[data-tab=backups]")).to_have_text("Saved backups")
        expect(page.locator(".tab[data-tab=system]")).to_have_text("System config")
    finally:
        edit["value"] = "Backups"
        httpx.put(f"{live_server}{API}/translations", headers=headers, json=edit)
    page.select_option("#lang-switch", "pl")
    expect(page.locator(".tab[data-tab=backups]")).to_have_text("Kopie zapasowe")
    # The choice is kept across pages, including the landing page.
    page.goto(f"{live_server}/")
    expect(page.locator("#home-view h1 [data-i18n='home.welcome']")).to_have_text("Witaj")
    page.select_option("#lang-switch", "en")
    expect(page.locator("#home-view h1 [data-i18n='home.welcome']")).to_have_text("Welcome")


def test_translations_grid_saves_and_highlights_missing(page: Page, live_server: str) -> None:
    headers = _headers(live_server)
    httpx.put(
        f"{live_server}{API}/translations",
        headers=headers,
        json={"key": "e2e.grid_key", "language": "en", "value": "Grid text"},
    )
    login_ui(page, live_server, "configurator")
    page.goto(f"{live_server}/fleet-config-manager#translations")
    page.wait_for_selector("#tr-table tbody tr")
    page.fill("#tr-filter input[name=q]", "e2e.grid_key")
    page.click("#tr-filter button[type=submit]")
    expect(page.locator("#tr-table tbody tr")).to_have_count(1)
    cell = page.locator("#tr-table tr[data-key='e2e.grid_key'] td[data-lang=pl]")
    expect(cell).to_have_class("missing")
    field = cell.locator("input")
    field.fill("Tekst siatki")
    expect(field).to_have_value("Tekst siatki")
    field.press("Tab")
    expect(cell).not_to_have_class("missing")
    bundle = httpx.get(f"{live_server}{API}/translations/export/pl", headers=headers).json()
    assert bundle["e2e.grid_key"] == "Tekst siatki"


def test_setting_validates_live_and_backup_restores(page: Page, live_server: str) -> None:
    headers = _headers(live_server)
    login_ui(page, live_server, "configurator")
    page.goto(f"{live_server}/fleet-config-manager#system")
    page.click("#sys-table tr[data-key=units] button:text('Edit')")
    expect(page.locator("#json-valid")).to_be_visible()
    page.click("#json-cancel")

    page.goto(f"{live_server}/fleet-config-manager#backups")
    page.fill("#bk-form input[name=backup_name]", "e2e before change")
    page.click("#bk-form button[type=submit]")
    row = page.locator("#bk-table tr[data-name='e2e before change']")
    expect(row).to_be_visible()
    r = httpx.put(
        f"{live_server}{API}/system-configs/by-key/units",
        headers=headers,
        json={"config_value": {"pressure": "Pa"}},
    )
    assert r.status_code == 200
    row.locator("button:text('Dry run')").click()
    changed = page.locator("#diff-table tr[data-table=configurations] .n-updated")
    expect(changed).to_have_text("1")
    page.once("dialog", lambda d: d.accept())
    page.click("#diff-restore")
    expect(page.locator("#flash")).to_contain_text("Restored")
    r = httpx.get(f"{live_server}{API}/system-configs/by-key/units", headers=headers)
    assert r.json()["config_value"]["pressure"] == "mbar"
    expect(page.locator("#bk-table td", has_text="before restore").first).to_be_visible()
