"""Fleet Software Manager in the browser: an installation started with delivery options, and
the device's DDI reports (execution, result, code, details) shown in its log."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui

API = "/api/v1"


def test_device_reports_and_delivery_options_are_shown(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "maker1")
    page.goto(f"{live_server}/fleet-software-manager#catalog")
    row = page.locator("#sw-table tbody tr[data-name='Calibration Tool']")
    row.locator("button", has_text="Versions").click()
    version_row = page.locator("#versions-table tbody tr[data-version='4.0.1']")
    version_row.locator("button", has_text="Install").click()
    expect(page.locator("#inst-dialog")).to_be_visible()
    page.fill("#inst-form [name=device_search]", "HS-0001")
    page.wait_for_selector("#inst-device-options option[value='HS-0001']", state="attached")
    page.select_option("#inst-form [name=update_type]", "soft")
    page.fill("#inst-form [name=window_schedule]", "* * * * *")
    page.fill("#inst-form [name=window_duration]", "00:05:00")
    page.fill("#inst-form [name=window_timezone]", "+01:00")
    page.click("#inst-form button[type=submit]")
    expect(page.locator("#tab-installations")).to_be_visible()
    inst_row = page.locator("#inst-table tbody tr", has_text="HS-0001").first
    expect(inst_row.locator(".inst-status")).to_have_text("pending")

    # the device reports over DDI with its own token
    with httpx.Client(base_url=live_server) as api:
        r = api.post(f"{API}/auth/login", json={"username": "maker1", "password": "pass"})
        r.raise_for_status()
        maker = {"Authorization": f"Bearer {r.json()['access_token']}"}
        devices = api.get(f"{API}/fleet-data/devices", params={"q": "HS-0001"}, headers=maker)
        device = next(d for d in devices.json() if d["device_number"] == "HS-0001")
        token = api.post(f"{API}/fleet-data/devices/{device['id']}/token", headers=maker)
        assert token.status_code == 201, token.text
        device_headers = {"Authorization": f"TargetToken {token.json()['token']}"}
        poll = api.get("/default/controller/v1/HS-0001", headers=device_headers).json()
        href = poll["_links"]["deploymentBase"]["href"]
        action = href.split("/deploymentBase/")[1].split("?")[0]
        deployment = api.get(href, headers=device_headers).json()["deployment"]
        assert (deployment["update"], deployment["maintenanceWindow"]) == ("attempt", "available")
        feedback = f"/default/controller/v1/HS-0001/deploymentBase/{action}/feedback"
        for status in (
            {"execution": "proceeding", "code": 12, "details": ["Installing Update Chunk"]},
            {"execution": "closed", "result": {"finished": "failure"}, "code": 3,
             "details": ["ERROR: bench calibration refused"]},
        ):  # fmt: skip
            r = api.post(feedback, headers=device_headers, json={"id": 15, "status": status})
            assert r.status_code == 200, r.text

    page.reload()
    inst_row = page.locator("#inst-table tbody tr", has_text="HS-0001").first
    expect(inst_row.locator(".inst-status")).to_contain_text("failed")
    inst_row.locator("button", has_text="Log").click()
    expect(page.locator("#log-dialog")).to_be_visible()
    expect(page.locator("#log-delivery")).to_contain_text("Update type: soft")
    expect(page.locator("#log-delivery")).to_contain_text("* * * * * for 00:05:00 (+01:00)")
    reports = page.locator("#log-reports tbody tr")
    expect(reports).to_have_count(2)
    expect(reports.nth(0)).to_contain_text("proceeding")
    expect(reports.nth(0)).to_contain_text("12")
    expect(reports.nth(1)).to_contain_text("failure")
    expect(reports.nth(1)).to_contain_text("ERROR: bench calibration refused")
