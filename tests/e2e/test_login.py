"""Sign in by password and by a QR badge typed as a USB scanner would, switch role, see the
navigation follow the active role."""

from __future__ import annotations

import subprocess
import sys

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui


def _nav_modules(page: Page) -> list[str]:
    page.wait_for_selector("#session:not([hidden])")
    return page.eval_on_selector_all("#nav a", "els => els.map(e => e.dataset.module)")


def test_password_login_role_switch_and_logout(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "maker1")
    expect(page.locator("#whoami")).to_have_text("maker1")
    assert "ADMIN" in _nav_modules(page)
    page.select_option("#role-switch", "operator")
    page.wait_for_load_state("load")
    expect(page.locator("#home-role")).to_have_text("operator")
    assert "ADMIN" not in _nav_modules(page)
    page.select_option("#role-switch", "admin")
    expect(page.locator("#home-role")).to_have_text("admin")
    assert "ADMIN" in _nav_modules(page)
    page.click("#nav a[data-module=ADMIN]")
    page.wait_for_selector("#users-table tbody tr")
    expect(page.locator("#users-table tbody tr[data-username=operator1]")).to_be_visible()
    page.click("#logout")
    page.wait_for_selector("#login-view:not([hidden])")


def test_wrong_password_shows_an_error(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/")
    page.fill("#username", "manager1")
    page.fill("#password", "not-the-password")
    page.click("#password-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("Incorrect username or password")


def test_qr_badge_typed_by_a_scanner(page: Page, live_server: str, server_env) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet.cli",
            "user",
            "qr",
            "operator1",
            "--out",
            f"{server_env['FLEET_DATA_DIR']}/badge.png",
        ],
        env=server_env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert "badge for operator1" in out.stdout
    tokens = httpx.post(
        f"{live_server}/api/v1/auth/login", json={"username": "maker1", "password": "pass"}
    ).json()
    users = httpx.get(
        f"{live_server}/api/v1/users",
        params={"q": "operator1"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    code = httpx.get(
        f"{live_server}/api/v1/users/{users[0]['id']}/qr-code",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    page.goto(f"{live_server}/")
    page.click("#qr-code")
    page.keyboard.type(code["qr_code"], delay=5)
    page.keyboard.press("Enter")
    page.wait_for_selector("#home-view:not([hidden])")
    expect(page.locator("#whoami")).to_have_text("operator1")
    expect(page.locator("#role-switch-wrap")).to_be_hidden()
    assert "ADMIN" not in _nav_modules(page)
    page.goto(f"{live_server}/admin")
    page.wait_for_url(f"{live_server}/")
