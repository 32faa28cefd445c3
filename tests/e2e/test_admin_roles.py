"""The users form offers only the roles the signed-in user may grant, and hides the actions
on accounts that hold a role he does not hold."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import login_ui


def test_user_form_offers_only_grantable_roles(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "admin")  # superuser + admin, not maker or configurator
    page.goto(f"{live_server}/admin#users")
    page.wait_for_selector("#users-table tbody tr[data-username=operator1]")
    maker_row = page.locator("#users-table tbody tr[data-username=maker1]")
    expect(maker_row.locator("button")).to_have_count(0)
    op_row = page.locator("#users-table tbody tr[data-username=operator1]")
    expect(op_row.locator("button", has_text="Edit")).to_be_visible()
    page.click("#user-new")
    offered = page.eval_on_selector_all(
        "#roles-boxes input[name=roles]", "els => els.map(e => e.value)"
    )
    assert offered == ["operator", "admin", "superuser", "manager"]
    primary = page.eval_on_selector_all(
        "#user-form select[name=role] option", "els => els.map(e => e.value)"
    )
    assert primary == offered
