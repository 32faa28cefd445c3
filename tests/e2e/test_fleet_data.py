"""Fleet Data Manager in the browser: a customer whose contact details are typed into a form
made from the contact schema (errors at the field), a device for it, found by search, with its
history; a device configuration form made from its template; the dashboard and overdue rows."""

from __future__ import annotations

import secrets

from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui


def test_customer_device_search_and_history(page: Page, live_server: str) -> None:
    suffix = secrets.token_hex(3)
    customer = f"E2E Rescue {suffix}"
    number = f"E2E-{suffix}"
    login_ui(page, live_server, "manager1")
    page.goto(f"{live_server}/fleet-data-manager#customers")
    page.wait_for_selector("#customers-table tbody tr")

    page.click("#customer-new")
    page.fill("#customer-form input[name=name]", customer)
    editor = "#customer-contact-editor"
    # contact details are ordinary fields from the contact schema; a bad e-mail (one the
    # browser lets through, the server does not) is reported at its field
    email = page.locator(f"{editor} input[name=email]")
    email.fill("ops@rescue")
    page.click("#customer-form button[value=save]")
    error = page.locator(f'{editor} label[data-key="email"] .field-error')
    expect(error).to_be_visible()
    expect(error).to_contain_text("email")
    expect(page.locator("#customer-form-error")).to_be_hidden()
    email.fill(f"ops-{suffix}@rescue.example")
    page.fill(f"{editor} input[name=company]", "E2E Rescue Ltd")
    page.click("#customer-form button[value=save]")
    expect(page.locator("#customer-dialog")).to_be_hidden()
    page.fill("#customer-filter input[name=q]", suffix)
    page.click("#customer-filter button[type=submit]")
    row = page.locator(f'#customers-table tbody tr[data-name="{customer}"]')
    expect(row).to_contain_text(f"ops-{suffix}@rescue.example")
    expect(row).to_contain_text("E2E Rescue Ltd")

    page.click("a.tab[data-tab=devices]")
    page.wait_for_selector("#devices-table tbody tr")
    page.click("#device-new")
    page.fill("#device-form input[name=device_number]", number)
    page.fill("#device-form input[name=device_type]", "mask_tester")
    page.fill("#device-form input[name=serial_number]", f"SN-{suffix}")
    page.select_option("#device-form select[name=customer_id]", label=customer)
    page.click("#device-form button[value=save]")
    expect(page.locator("#device-dialog")).to_be_hidden()

    page.fill("#device-filter input[name=q]", number.lower())
    page.click("#device-filter button[type=submit]")
    rows = page.locator("#devices-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(customer)
    expect(rows.first).to_contain_text("never tested")

    rows.first.locator("button", has_text="Edit").click()
    page.select_option("#device-form select[name=status]", "maintenance")
    page.click("#device-form button[value=save]")
    expect(page.locator("#device-dialog")).to_be_hidden()
    page.locator(
        f'#devices-table tbody tr[data-number="{number}"] button', has_text="History"
    ).click()
    timeline = page.locator("#history-list li")
    expect(timeline).to_have_count(2)
    expect(timeline.nth(0)).to_contain_text("status: active → maintenance")
    expect(timeline.nth(0)).to_contain_text("manager1")
    expect(timeline.nth(1)).to_contain_text("Device created")
    expect(page.locator("#history-due")).to_have_text("Never tested")
    page.click("#history-close")


def test_dashboard_and_overdue_devices(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "manager1")
    page.goto(f"{live_server}/fleet-data-manager")
    page.wait_for_selector("#dash-cards .fdm-stat")
    page.click("#dash-refresh")  # recompute now: other tests may have changed the fleet
    overdue = page.locator('#dash-cards [data-stat="overdue"]')
    expect(overdue).to_have_class("card fdm-stat fdm-alert")
    count = int(overdue.locator(".fdm-stat-value").inner_text())
    assert count >= 1
    overdue.click()
    page.wait_for_url("**#devices?due=overdue")
    rows = page.locator("#devices-table tbody tr")
    expect(rows).to_have_count(count)
    for i in range(count):
        expect(rows.nth(i)).to_have_class("overdue")
    rows.first.locator("button", has_text="History").click()
    expect(page.locator("#history-due")).to_contain_text("OVERDUE")
    expect(page.locator("#history-list li[data-kind=test]").first).to_contain_text("operator1")


def test_device_configuration_form_reports_at_the_field(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "manager1")
    page.goto(f"{live_server}/fleet-data-manager#devices")
    page.fill("#device-filter input[name=q]", "PS-0001")
    page.click("#device-filter button[type=submit]")
    page.locator('#devices-table tbody tr[data-number="PS-0001"] button', has_text="Edit").click()
    editor = "#device-config-editor"
    field = page.locator(f"{editor} input[name=range_mbar]")
    expect(field).to_have_value("100")
    field.fill("0")  # the template wants more than 0; only the server knows
    page.click("#device-form button[value=save]")
    error = page.locator(f'{editor} label[data-key="range_mbar"] .field-error')
    expect(error).to_be_visible()
    expect(page.locator("#device-dialog")).to_be_visible()
    # the advanced view edits the same value
    page.click(f"{editor} .schema-toggle")
    expect(page.locator(f"{editor} .schema-tree")).to_contain_text("range_mbar")
    page.click(f"{editor} .schema-toggle")
    page.fill(f"{editor} input[name=range_mbar]", "250")
    page.click("#device-form button[value=save]")
    expect(page.locator("#device-dialog")).to_be_hidden()
