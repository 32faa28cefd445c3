"""The admin creates an operator and prints the badge: a card PDF with the name, the role and
the QR code the sign-in page scans."""

from __future__ import annotations

import secrets
from pathlib import Path

from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.e2e.conftest import login_ui


def test_admin_creates_an_operator_and_prints_the_badge(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    name = f"op-badge-{secrets.token_hex(3)}"
    login_ui(page, live_server, "maker1")
    page.goto(f"{live_server}/admin#users")
    page.click("#user-new")
    form = page.locator("#user-form")
    form.locator("input[name=username]").fill(name)
    form.locator("input[name=password]").fill("badge-pass-1")
    form.locator("select[name=role]").select_option("operator")
    form.locator("button[type=submit]").first.click()
    row = page.locator("#users-table tbody tr", has_text=name)
    expect(row).to_be_visible()
    row.get_by_role("button", name="Badge").click()
    expect(page.locator("#badge-user")).to_have_text(name)
    expect(page.locator("#badge-pdf")).to_be_hidden()  # no code yet: nothing to print
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#badge-regenerate")
    expect(page.locator("#badge-pdf")).to_be_visible()
    with page.expect_download() as info:
        page.click("#badge-pdf")
    target = tmp_path / "badge.pdf"
    info.value.save_as(target)
    reader = PdfReader(str(target))
    text = reader.pages[0].extract_text()
    assert name in text and "operator" in text
    assert reader.pages[0].images, "the badge carries its QR code"
