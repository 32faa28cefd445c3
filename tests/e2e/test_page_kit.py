"""The shared page kit's states and the small defects of the admin, software, config and data
pages: row deletes are quiet buttons that still ask first, an empty backup list says so, Log
out goes away with the session, a device just created is in the list after Save, and the badge
dialog shows and saves the user's name with the code."""

from __future__ import annotations

import secrets
import struct
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui

PAGE_SIZE = 25  # the kit's PAGE


def _headers(base: str, user: str = "maker1") -> dict[str, str]:
    tokens = httpx.post(f"{base}/api/v1/auth/login", json={"username": user, "password": "pass"})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def test_row_deletes_are_quiet_and_still_ask(page: Page, live_server: str) -> None:
    headers = _headers(live_server)
    name = f"E2E quiet {secrets.token_hex(3)}"
    r = httpx.post(f"{live_server}/api/v1/fleet-data/customers", headers=headers,
                   json={"name": name})
    assert r.status_code == 201, r.text
    login_ui(page, live_server, "maker1")
    lists = {
        "/fleet-data-manager#devices": "#devices-table",
        "/fleet-data-manager#customers": "#customers-table",
        "/fleet-software-manager#catalog": "#sw-table",
        "/admin#users": "#users-table",
        "/fleet-config-manager#templates": "#tpl-table",
        "/connect-manager": "#cm-table",
    }
    for path, table in lists.items():
        page.goto(f"{live_server}{path}")
        expect(page.locator(f"{table} tbody .row-delete").first).to_be_visible()
        assert page.locator(f"{table} tbody .btn-danger").count() == 0, path
    # the quiet button still asks first: dismissing keeps the row
    page.goto(f"{live_server}/fleet-data-manager#customers")
    page.fill("#customer-filter input[name=q]", name)
    page.click("#customer-filter button[type=submit]")
    row = page.locator(f'#customers-table tbody tr[data-name="{name}"]')
    asked: list[str] = []

    def dismiss(dialog) -> None:  # type: ignore[no-untyped-def]
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.locator(".row-delete").click()
    expect(row).to_be_visible()
    assert asked and name in asked[0]
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator(".row-delete").click()
    expect(row).to_have_count(0)


def test_an_empty_backup_list_says_so(page: Page, live_server: str) -> None:
    headers = _headers(live_server)
    api = f"{live_server}/api/v1/fleet-config"
    for backup in httpx.get(f"{api}/backups", headers=headers, params={"limit": 100}).json():
        assert httpx.delete(f"{api}/backups/{backup['id']}", headers=headers).status_code == 204
    login_ui(page, live_server, "maker1")
    page.goto(f"{live_server}/fleet-config-manager#backups")
    empty = page.locator("#bk-table tbody tr.list-empty")
    expect(empty).to_contain_text("No backups yet")
    expect(page.locator("#bk-pager")).to_be_hidden()
    page.fill("#bk-form input[name=backup_name]", "e2e kit backup")
    page.click("#bk-form button[type=submit]")
    expect(page.locator('#bk-table tbody tr[data-name="e2e kit backup"]')).to_be_visible()
    expect(page.locator("#bk-pager")).to_be_visible()


def test_log_out_goes_with_the_session(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "manager1")
    expect(page.locator("#logout")).to_be_visible()
    # the session ends behind the page's back (expired, revoked): Log out still signs out
    page.evaluate(
        "() => { sessionStorage.setItem('fleet.access', 'x'); "
        "sessionStorage.setItem('fleet.refresh', 'y'); }"
    )
    page.click("#logout")
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#logout")).to_be_hidden()
    expect(page.locator("#home-view")).to_be_hidden()
    page.goto(f"{live_server}/")
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#logout")).to_be_hidden()


def test_a_new_device_is_in_the_list_after_save(page: Page, live_server: str) -> None:
    headers = _headers(live_server, "manager1")
    api = f"{live_server}/api/v1/fleet-data/devices"
    total = int(httpx.get(api, headers=headers, params={"limit": 1}).headers["X-Total-Count"])
    for _ in range(max(0, PAGE_SIZE + 1 - total)):  # more than one page of devices
        number = f"E2E-FILL-{secrets.token_hex(3)}"
        r = httpx.post(api, headers=headers, json={"device_number": number,
                                                   "device_type": "mask_tester"})
        assert r.status_code == 201, r.text
    login_ui(page, live_server, "manager1")
    page.goto(f"{live_server}/fleet-data-manager#devices")
    page.wait_for_selector("#devices-table tbody tr")
    number = f"ZZZ-E2E-{secrets.token_hex(3)}"  # sorts after every other device number
    page.click("#device-new")
    page.fill("#device-form input[name=device_number]", number)
    page.fill("#device-form input[name=device_type]", "mask_tester")
    page.click("#device-form button[value=save]")
    expect(page.locator("#device-dialog")).to_be_hidden()
    row = page.locator(f'#devices-table tbody tr[data-number="{number}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("mask_tester")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_badge_dialog_shows_and_saves_the_name(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    headers = _headers(live_server)
    name = f"op-kit-{secrets.token_hex(3)}"
    r = httpx.post(f"{live_server}/api/v1/users", headers=headers,
                   json={"username": name, "password": "badge-pass-1", "role": "operator",
                         "roles": ["operator"]})
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]
    login_ui(page, live_server, "maker1")
    page.goto(f"{live_server}/admin#users")
    page.fill("#user-filter input[name=q]", name)
    page.click("#user-filter button[type=submit]")
    row = page.locator(f'#users-table tbody tr[data-username="{name}"]')
    row.get_by_role("button", name="Badge").click()
    expect(page.locator("#badge-none")).to_be_visible()  # no code yet: nothing to save
    expect(page.locator("#badge-download")).to_be_hidden()
    page.click("#badge-close")
    r = httpx.post(f"{live_server}/api/v1/users/{user_id}/qr-code", headers=headers)
    assert r.status_code in (200, 201), r.text
    row.get_by_role("button", name="Badge").click()
    expect(page.locator("#badge-card")).to_be_visible()
    expect(page.locator("#badge-name")).to_have_text(name)
    expect(page.locator("#badge-role")).to_have_text("operator")
    with page.expect_download() as info:
        page.click("#badge-download")
    assert info.value.suggested_filename == f"badge-{name}.png"
    target = tmp_path / "badge.png"
    info.value.save_as(target)
    width, height = _png_size(target.read_bytes())
    assert height > width, "the name and role are under the code"
