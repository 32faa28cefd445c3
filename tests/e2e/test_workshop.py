"""Fleet Workshop Manager in the browser: a manager turns the demo's proposed order into a done
repair with a part from stock, the item's readiness changes on the FDM page, and the due list
sends reminders through the SMTP server (once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui


def _fdm_readiness(page: Page, base: str, number: str) -> Any:
    page.goto(f"{base}/fleet-data-manager#devices")
    page.fill("#device-filter input[name=q]", number.lower())
    page.click("#device-filter button[type=submit]")
    row = page.locator(f'#devices-table tbody tr[data-number="{number}"]')
    expect(row).to_have_count(1)
    return row.locator("td.readiness .fwm-ready")


def test_manager_repairs_a_proposed_order(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "manager1")
    badge = _fdm_readiness(page, live_server, "FFM-1002")
    expect(badge).to_have_attribute("data-readiness", "test_required")

    page.goto(f"{live_server}/fleet-workshop-manager")
    card = page.locator('.fwm-column[data-state=proposed] li[data-device="FFM-1002"]')
    expect(card).to_have_count(1)
    card.locator("button").click()
    dialog = page.locator("#order-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#order-failed")).to_contain_text("Evacuate to -14 mbar")
    page.click("#order-actions [data-to=open]")
    expect(page.locator("#order-meta [data-state]")).to_have_attribute("data-state", "open")
    expect(page.locator("#order-meta .fwm-ready")).to_have_attribute("data-readiness", "in_repair")
    page.click("#order-actions [data-to=in_progress]")
    expect(page.locator("#order-meta [data-state]")).to_have_attribute("data-state", "in_progress")

    picker = page.locator("#part-picker")
    picker.locator("select[name=part_id]").select_option(label="EVD-100 Exhalation valve disc (18)")
    picker.locator("select[name=lot_id]").select_option(label="L2611-A (12)")
    picker.locator("input[name=serial_number]").fill("EVD-SN-1")
    page.click("#part-add")
    expect(page.locator("#order-parts tbody tr")).to_have_count(1)
    expect(page.locator("#order-parts tbody tr")).to_contain_text("L2611-A")
    expect(picker.locator("select[name=lot_id] option").first).to_have_text("L2611-A (11)")

    page.fill("#order-form textarea[name=work_done]", "Exhalation valve disc replaced")
    page.fill("#order-form input[name=time_spent_minutes]", "20")
    page.click("#order-actions [data-to=done]")
    expect(page.locator("#order-meta [data-state]")).to_have_attribute("data-state", "done")
    expect(page.locator("#order-meta .fwm-ready")).to_have_attribute(
        "data-readiness", "test_required"
    )
    page.click("#order-actions [data-close=order-dialog]")
    expect(page.locator('.fwm-column[data-state=done] li[data-device="FFM-1002"]')).to_have_count(1)

    page.click("a.tab[data-tab=parts]")
    expect(page.locator('#parts-table tr[data-part="EVD-100"] td.stock')).to_have_text("17")

    # while in repair the FDM page said so; now it waits for the retest
    badge = _fdm_readiness(page, live_server, "SCBA-2001")
    expect(badge).to_have_attribute("data-readiness", "in_repair")
    badge = _fdm_readiness(page, live_server, "CYL-5001")
    expect(badge).to_have_attribute("data-readiness", "blocked")
    assert "life limit" in (badge.get_attribute("title") or "")


def test_fdm_shows_in_repair_while_the_order_is_open(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "manager1")
    page.goto(f"{live_server}/fleet-workshop-manager")
    page.fill("#order-new input[name=device]", "FFM-1003")
    page.fill("#order-new input[name=findings]", "Visor scratched")
    page.click("#order-new button[type=submit]")
    expect(page.locator("#order-meta [data-state]")).to_have_attribute("data-state", "open")
    badge = _fdm_readiness(page, live_server, "FFM-1003")
    expect(badge).to_have_attribute("data-readiness", "in_repair")


def test_due_list_sends_reminders(
    page: Page, live_server: str, smtp_inbox: tuple[Any, int]
) -> None:
    inbox, _port = smtp_inbox
    login_ui(page, live_server, "manager1")
    page.goto(f"{live_server}/fleet-workshop-manager#due")
    page.fill("#due-filter input[name=within_days]", "90")
    page.click("#due-filter button[type=submit]")
    expect(page.locator('#due-table tbody tr[data-device="CYL-5002"]')).to_have_count(1)
    page.click("#due-preview")
    expect(page.locator("#due-result")).to_contain_text("Would send")
    assert inbox.messages == []
    page.click("#due-send")
    expect(page.locator("#due-result")).to_contain_text("Sent")
    assert inbox.messages
    recipients = {r for rcpts, _ in inbox.messages for r in rcpts}
    assert "rescue@northmine.example" in recipients
    sent = len(inbox.messages)
    page.click("#due-send")
    expect(page.locator("#due-result")).to_contain_text("Nothing new to send")
    assert len(inbox.messages) == sent

    page.click("a.tab[data-tab=rules]")
    page.locator("#rules-table a", has_text="Composite cylinder: 15-year service life").click()
    expect(page.locator("#rule-editor .jse-main")).to_be_visible()
    expect(page.locator("#rule-error")).to_be_hidden()
    expect(page.locator("#rule-save")).to_be_enabled()
    page.click("a.tab[data-tab=stats]")
    page.click("#stats-filter button[type=submit]")
    expect(page.locator("#stats-table tbody tr").first).to_be_visible()


def test_bench_shows_readiness_and_refuses_a_blocked_item(page: Page, live_server: str) -> None:
    token = httpx.post(
        f"{live_server}/api/v1/auth/login", json={"username": "manager1", "password": "pass"}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    devices = httpx.get(
        f"{live_server}/api/v1/fleet-data/devices", headers=headers, params={"q": "FFM-1001"}
    ).json()
    made = (datetime.now(UTC) - timedelta(days=365 * 11)).isoformat()
    r = httpx.put(
        f"{live_server}/api/v1/workshop/items/{devices[0]['id']}",
        headers=headers,
        json={"manufactured_on": made},
    )
    assert r.status_code == 200 and r.json()["readiness"] == "blocked"

    login_ui(page, live_server, "operator1")
    page.goto(f"{live_server}/connect-plus-plus")
    page.click('#cpp-choices [data-kind="full_face_mask"]')
    page.click('#cpp-choices [data-type="mask_tester"]')
    page.click('#cpp-choices [data-test="yearly"]')
    page.click('#cpp-choices [data-scenario="Yearly full-face mask test"]')
    page.fill("#cpp-device-q", "FFM-100")
    page.click("#cpp-device-search button[type=submit]")
    choice = page.locator('#cpp-choices [data-device="FFM-1001"]')
    expect(choice.locator(".fwm-ready")).to_have_attribute("data-readiness", "blocked")
    choice.click()
    expect(page.locator("#flash")).to_contain_text("blocked")
    expect(page.locator("#cpp-run")).to_be_hidden()
