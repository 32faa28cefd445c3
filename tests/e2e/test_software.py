"""Fleet Software Manager in the browser: upload an artifact (checksum shown), start an
installation on a device and see it complete; the roll-out and device views show demo data."""

from __future__ import annotations

import hashlib

from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui


def test_upload_install_and_complete(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "maker1")
    page.goto(f"{live_server}/fleet-software-manager#catalog")
    row = page.locator("#sw-table tbody tr[data-name='Calibration Tool']")
    expect(row).to_be_visible()
    row.locator("button", has_text="Versions").click()
    expect(page.locator("#versions-table tbody tr[data-version='4.1.0']")).to_be_visible()

    page.click("#version-new")
    page.fill("#version-form [name=version_number]", "5.0.0-e2e")
    page.fill("#version-form [name=release_notes]", "Browser test build")
    page.click("#version-form button[type=submit]")
    version_row = page.locator("#versions-table tbody tr[data-version='5.0.0-e2e']")
    expect(version_row).to_be_visible()

    content = b"calibration tool build for the browser test\n" * 5000
    version_row.locator("button", has_text="Upload").click()
    page.set_input_files(
        "#upload-form [name=file]",
        files=[{"name": "tool.tar", "mimeType": "application/x-tar", "buffer": content}],
    )
    page.fill("#upload-form [name=sha256]", hashlib.sha256(content).hexdigest())
    page.click("#upload-submit")
    expect(page.locator("#upload-checksum")).to_have_text(hashlib.sha256(content).hexdigest())
    page.click("#upload-dialog [data-close]")
    expect(version_row.locator(".fsm-checksum code")).to_have_attribute(
        "title", hashlib.sha256(content).hexdigest()
    )

    version_row.locator("button", has_text="Install").click()
    expect(page.locator("#inst-dialog")).to_be_visible()
    expect(page.locator("#inst-form [name=version_id] option:checked")).to_have_text("5.0.0-e2e")
    page.fill("#inst-form [name=device_search]", "HS-0002")
    page.wait_for_selector("#inst-device-options option[value='HS-0002']", state="attached")
    page.click("#inst-form button[type=submit]")

    expect(page.locator("#tab-installations")).to_be_visible()
    inst_row = page.locator("#inst-table tbody tr", has_text="HS-0002").first
    expect(inst_row.locator(".inst-status")).to_have_text("pending")
    inst_row.locator("button", has_text="Start").click()
    expect(inst_row.locator(".inst-status")).to_have_text("in_progress")
    inst_row.locator("button", has_text="Complete").click()
    expect(inst_row.locator(".inst-status")).to_have_text("completed")

    page.goto(f"{live_server}/fleet-software-manager#devices")
    page.fill("#dev-filter [name=q]", "HS-0002")
    page.click("#dev-filter button[type=submit]")
    page.click("#dev-table tbody tr[data-device='HS-0002']")
    software_row = page.locator("#dev-software-table tbody tr", has_text="Calibration Tool")
    expect(software_row).to_contain_text("5.0.0-e2e")
    expect(software_row).to_contain_text("installed")


def test_rollout_progress_is_shown(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "maker1")
    page.goto(f"{live_server}/fleet-software-manager#rollouts")
    staged = page.locator("#ro-table tbody tr", has_text="2.10.0 staged")
    expect(staged).to_contain_text("draft")  # the demo's roll-out waits for the user's Start
    staged.locator("button", has_text="Open").click()
    expect(page.locator("#ro-groups tbody tr")).to_have_count(2)
    expect(page.locator("#ro-groups tbody tr").first).to_contain_text("waiting: 3")
    page.click("#ro-actions button:text('Start')")
    expect(page.locator("#ro-detail-status")).to_have_text("running")
    expect(staged).to_contain_text("running")
    expect(page.locator("#ro-groups tbody tr").first).to_contain_text("pending: 3")
    expect(page.locator("#ro-groups tbody tr").nth(1)).to_contain_text("waiting: 3")
    page.click("#ro-actions button:text('Pause')")
    expect(page.locator("#ro-detail-status")).to_have_text("paused")
    page.click("#ro-actions button:text('Resume')")
    expect(page.locator("#ro-detail-status")).to_have_text("running")
    page.goto(f"{live_server}/fleet-software-manager#dashboard")
    expect(page.locator("#dash-outdated")).to_contain_text("Mask Tester Firmware")
