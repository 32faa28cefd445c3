"""Names where ids were typed: the roll-out form finds devices and the customer by name, the
installations filter a device, the audit log a user, with a prefix filter on the action and
readable details."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui


def _pick(page: Page, box: str, text: str, option: str) -> None:
    field = page.locator(f"{box} .picker-input")
    field.fill(text)
    page.locator(f"{box} .picker-list li[role=option]", has_text=option).first.click()


def test_the_rollout_form_finds_devices_by_name(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "maker1")
    page.goto(f"{live_server}/fleet-software-manager#rollouts")
    form = page.locator("#ro-form")
    form.locator("select[name=software_id]").select_option(label="Sensor Firmware")
    page.wait_for_function(
        "() => document.querySelector('#ro-form select[name=version_id]').options.length > 0"
    )
    devices = "#ro-form label:has(input[name=device_ids])"
    _pick(page, devices, "PS-00", "PS-0001")
    _pick(page, devices, "FM-00", "FM-0001")
    expect(page.locator(f"{devices} .chip")).to_have_count(2)
    ids = form.locator("input[name=device_ids]").input_value().split(",")
    assert len(ids) == 2 and all(i.isdigit() for i in ids)
    form.locator("input[name=name]").fill("E2E picked by name")
    form.locator("button[type=submit]").click()
    expect(page.locator("#flash")).to_contain_text("2 devices")


def test_installations_and_audit_log_filter_by_name(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "maker1")
    page.goto(f"{live_server}/fleet-software-manager#installations")
    _pick(page, "#inst-filter", "MT-0001", "MT-0001")
    page.click("#inst-filter button[type=submit]")
    rows = page.locator("#inst-table tbody tr")
    expect(rows.first).to_contain_text("MT-0001")
    assert all("MT-0001" in text for text in rows.all_inner_texts())

    page.goto(f"{live_server}/admin#logs")
    page.fill("#log-filter input[name=action]", "auth.")
    _pick(page, "#log-filter", "maker", "maker1")
    page.click("#log-filter button[type=submit]")
    # wait for the filtered page: no action cell that does not start with "auth."
    cells = page.locator("#logs-table tbody tr td:nth-child(4)")
    expect(cells.filter(has_not_text=re.compile(r"^auth\."))).to_have_count(0)
    first = page.locator("#logs-table tbody tr").first
    expect(first).to_contain_text("maker1")
    expect(first).to_contain_text("auth.")
    for text in page.locator("#logs-table tbody tr td:nth-child(4)").all_inner_texts():
        assert text.startswith("auth."), text
