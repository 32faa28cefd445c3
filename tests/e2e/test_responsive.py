"""Phones: at 390x844 the header folds into a menu and no page (nor any of its tabs) is wider
than the screen; lists scroll inside their own box."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui

PAGES = [
    "/",
    "/connect-plus-plus",
    "/connect-manager",
    "/fleet-data-manager",
    "/fleet-config-manager",
    "/fleet-software-manager",
    "/admin",
]
WIDTH = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def test_every_page_fits_a_phone(page: Page, live_server: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login_ui(page, live_server, "maker1")
    too_wide: dict[str, list[int]] = {}
    for path in PAGES:
        page.goto(f"{live_server}{path}")
        page.wait_for_load_state("networkidle")
        header = page.locator(".topbar").bounding_box()
        assert header is not None and header["height"] <= 80, (path, header)
        tabs = page.locator(".tabs .tab[href^='#']:visible")
        names = [tabs.nth(i).get_attribute("href") for i in range(tabs.count())] or [""]
        for href in names:
            if href:
                page.locator(f".tabs .tab[href='{href}']").click()
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(200)
            scroll, client = page.evaluate(WIDTH)
            if scroll > client:
                too_wide[f"{path}{href}"] = [scroll, client]
    assert not too_wide, f"pages wider than the 390 px screen: {too_wide}"


def test_the_menu_opens_the_navigation(page: Page, live_server: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login_ui(page, live_server, "maker1")
    page.goto(f"{live_server}/fleet-data-manager")
    nav = page.locator("#nav")
    expect(nav).to_be_hidden()
    page.click("#nav-toggle")
    expect(nav).to_be_visible()
    nav.get_by_role("link", name="Connect++").click()
    expect(page).to_have_url(f"{live_server}/connect-plus-plus")
