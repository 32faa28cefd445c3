"""Tests in progress and the report browser, as operators and a manager do it in Chromium: an
operator's browser closes mid-test, another operator takes the test over and finishes it, a
third test is aborted from the list with a reason, an idle test is closed by the server and its
device is free again; the manager opens the report from the device's history, sees each step in
words with its trace, verifies the checksum and downloads the PDF."""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import login_ui
from tests.runs.pdftext import pdf_text

SCENARIO = "Yearly full-face mask test"
PW = "e2e-pass-1"


def _token(base: str, username: str, password: str = "pass") -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _operator(base: str, admin: dict[str, str], name: str) -> str:
    r = httpx.post(
        f"{base}/api/v1/users",
        headers=admin,
        json={"username": name, "password": PW, "role": "operator"},
    )
    assert r.status_code == 201, r.text
    return name


def _device(base: str, manager: dict[str, str], number: str) -> int:
    r = httpx.post(
        f"{base}/api/v1/fleet-data/devices",
        headers=manager,
        json={
            "device_number": number,
            "device_type": "mask_tester",
            "kind_of_device": "full_face_mask",
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _scenario_id(base: str, headers: dict[str, str]) -> int:
    catalog = httpx.get(f"{base}/api/v1/tests/catalog", headers=headers).json()
    return next(s["id"] for s in catalog["scenarios"] if s["name"] == SCENARIO)


def _start(base: str, headers: dict[str, str], device: int) -> dict[str, Any]:
    body = {"scenario_id": _scenario_id(base, headers), "device_id": device}
    r = httpx.post(f"{base}/api/v1/tests/start", headers=headers, json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def _recorded(page: Page, order: int, result: str = "passed") -> None:
    page.wait_for_selector(
        f'#cpp-steps li[data-order="{order}"][data-result="{result}"]', timeout=30_000
    )


def test_closed_browser_take_over_abort_and_idle_timeout(
    browser: Browser, page: Page, live_server: str, server_env: dict[str, str]
) -> None:
    base = live_server
    tag = secrets.token_hex(3)
    admin, manager = _token(base, "maker1"), _token(base, "manager1")
    first, second, third = (_operator(base, admin, f"op{n}-{tag}") for n in ("a", "b", "c"))
    number = f"E2E-RUN-{tag}"
    device = _device(base, manager, number)

    # the first operator starts the test in his browser, records step 1, and the browser closes
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    mine = ctx.new_page()
    login_ui(mine, base, first, PW)
    mine.goto(f"{base}/connect-plus-plus")
    mine.click('#cpp-choices [data-kind="full_face_mask"]')
    mine.click('#cpp-choices [data-type="mask_tester"]')
    mine.click('#cpp-choices [data-test="yearly"]')
    mine.click(f'#cpp-choices [data-scenario="{SCENARIO}"]')
    mine.fill("#cpp-device-q", number)
    mine.keyboard.press("Enter")
    mine.wait_for_selector("#cpp-run:not([hidden])")
    mine.click("#cpp-passed")
    _recorded(mine, 1)
    ctx.close()

    # another operator sees it in the list of running tests, takes it over and finishes it
    login_ui(page, base, second, PW)
    page.goto(f"{base}/connect-plus-plus")
    item = page.locator(f'.cpp-running-item[data-device="{number}"]')
    expect(item).to_contain_text(first)
    expect(item).to_contain_text("2 / 7")
    item.locator(".cpp-resume").click()
    page.wait_for_selector("#cpp-run:not([hidden])")
    expect(page.locator("#cpp-step-name")).to_contain_text("2.")
    page.select_option("#cpp-speed", "20")
    for order in range(2, 7):
        page.click("#cpp-bench")
        _recorded(page, order)
    page.click("#cpp-passed")
    _recorded(page, 7)
    page.click("#cpp-complete")
    expect(page.locator("#cpp-verdict")).to_contain_text("Passed")
    report = httpx.get(
        f"{base}/api/v1/reports", headers=manager, params={"device_id": device}
    ).json()[0]
    assert report["operator_name"] == second and report["verdict"] == "passed"

    # a third test, left by the first operator, is aborted with a reason by a third one
    other = _device(base, manager, f"E2E-ABT-{tag}")
    left = _start(base, _token(base, first, PW), other)
    ctx3 = browser.new_context(viewport={"width": 1366, "height": 900})
    p3 = ctx3.new_page()
    login_ui(p3, base, third, PW)
    p3.goto(f"{base}/connect-plus-plus")
    row = p3.locator(f'.cpp-running-item[data-test="{left["id"]}"]')
    row.locator(".cpp-running-abort").click()
    p3.fill(".ui-dialog input[name=answer]", "mask taken away by the customer")
    p3.click(".ui-dialog button[type=submit]")
    expect(row).to_have_count(0)
    ctx3.close()
    got = httpx.get(f"{base}/api/v1/reports/{left['id']}", headers=manager).json()
    assert got["status"] == "aborted"
    assert got["results"]["abort"]["reason"] == "mask taken away by the customer"

    # an idle test: the server closes it as abandoned and the device takes a new test
    idle_number = f"E2E-IDLE-{tag}"
    idle_device = _device(base, manager, idle_number)
    idle = _start(base, _token(base, first, PW), idle_device)
    db = Path(server_env["FLEET_DATA_DIR"]) / "fleet.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE test_report_activity SET last_activity_at = '2000-01-01 00:00:00.000000' "
            "WHERE report_id = ?",
            (idle["id"],),
        )
    page.click("#cpp-again")
    expect(page.locator(f'.cpp-running-item[data-test="{idle["id"]}"]')).to_have_count(0)
    page.click('#cpp-choices [data-kind="full_face_mask"]')
    page.click('#cpp-choices [data-type="mask_tester"]')
    page.click('#cpp-choices [data-test="yearly"]')
    page.click(f'#cpp-choices [data-scenario="{SCENARIO}"]')
    page.fill("#cpp-device-q", idle_number)
    page.keyboard.press("Enter")
    page.wait_for_selector("#cpp-run:not([hidden])")
    abandoned = httpx.get(f"{base}/api/v1/reports/{idle['id']}", headers=manager).json()
    assert abandoned["status"] == "aborted"
    assert abandoned["results"]["abort"]["kind"] == "abandoned"
    page.click("#cpp-abort")
    page.fill("#cpp-abort-form input[name=reason]", "end of the browser test")
    page.click("#cpp-abort-form button[type=submit]")
    expect(page.locator("#cpp-verdict")).to_be_visible()


def test_manager_opens_a_report_from_device_history_and_downloads_its_pdf(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    base = live_server
    tag = secrets.token_hex(3)
    manager, operator = _token(base, "manager1"), _token(base, "operator1")
    number = f"E2E-HIST-{tag}"
    device = _device(base, manager, number)
    test = _start(base, operator, device)
    tid = test["id"]
    for order in range(1, 8):
        body: dict[str, Any] = (
            {"result": "passed"} if order in (1, 7) else {"source": "bench"}
        )
        r = httpx.post(f"{base}/api/v1/tests/{tid}/steps/{order}", headers=operator, json=body)
        assert r.status_code == 200, r.text
    done = httpx.post(f"{base}/api/v1/tests/{tid}/complete", headers=operator).json()
    sha = done["sha256"]

    login_ui(page, base, "manager1")
    page.goto(f"{base}/fleet-data-manager#devices")
    page.fill("#device-filter input[name=q]", number)
    page.click("#device-filter button[type=submit]")
    row = page.locator(f'#devices-table tr:has-text("{number}")')
    row.get_by_role("button", name="History").click()
    link = page.locator(f'#history-list a[data-report="{tid}"]')
    link.click()
    expect(page.locator("#rb-detail")).to_be_visible()
    expect(page.locator("#rb-detail-title")).to_contain_text(number)
    leak = page.locator('.rb-step[data-order="4"]')
    expect(leak).to_contain_text("loss")
    expect(leak.locator(".rb-sentence")).to_contain_text("Passed")
    assert leak.locator("canvas").count() == 1
    page.wait_for_function(
        "() => { const c = document.querySelector('.rb-step[data-order=\"4\"] canvas');"
        " return c && Chart.getChart(c) && Chart.getChart(c).data.datasets[0].data.length > 50; }"
    )
    page.click("#rb-verify-this")
    expect(page.locator("#rb-verify-result")).to_contain_text("Genuine")
    with page.expect_download() as info:
        page.click("#rb-pdf")
    target = tmp_path / "report.pdf"
    info.value.save_as(target)
    text = " ".join(pdf_text(target.read_bytes()).split("\n"))
    assert number in text and sha in text
    page.click("#rb-close")
    # the list filters by device and verdict
    page.locator("#rb-filter .picker-input").first.fill(number)
    page.locator(f'#rb-filter .picker-list li[role=option]:has-text("{number}")').click()
    page.select_option("#rb-filter select[name=outcome]", "v:passed")
    page.click("#rb-filter button[type=submit]")
    expect(page.locator("#rb-table tbody tr")).to_have_count(1)
    expect(page.locator(f'#rb-table tbody tr[data-id="{tid}"]')).to_be_visible()
    page.select_option("#rb-filter select[name=outcome]", "v:failed")
    page.click("#rb-filter button[type=submit]")
    expect(page.locator("#rb-table .list-empty")).to_be_visible()


def test_a_report_finished_before_sealing_is_sealed_by_a_button(
    page: Page, live_server: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Opening a report finished before sealing existed seals nothing: the detail says it is
    not sealed and offers no PDF; the manager seals it with the button, then prints it."""
    base = live_server
    tag = secrets.token_hex(3)
    manager = _token(base, "manager1")
    number = f"E2E-OLD-{tag}"
    device = _device(base, manager, number)
    results = {
        "verdict": "passed",
        "device": {"device_number": number},
        "scenario": {"name": "Imported yearly test"},
        "steps": [{"step_order": 1, "step_name": "Visual inspection", "result": "passed"}],
    }
    db = Path(server_env["FLEET_DATA_DIR"]) / "fleet.db"
    with sqlite3.connect(db) as conn:
        legacy = conn.execute(
            "INSERT INTO test_reports (device_id, start_time, end_time, status, results) "
            "VALUES (?, '2024-05-02 09:00:00.000000', '2024-05-02 09:10:00.000000', "
            "'completed', ?)",
            (device, json.dumps(results)),
        ).lastrowid

    def sealed() -> int:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT count(*) FROM test_report_seals WHERE report_id = ?", (legacy,)
            ).fetchone()
        return int(row[0])

    login_ui(page, base, "manager1")
    page.goto(f"{base}/fleet-data-manager#devices")
    page.fill("#device-filter input[name=q]", number)
    page.click("#device-filter button[type=submit]")
    page.locator(f'#devices-table tr:has-text("{number}")').get_by_role(
        "button", name="History"
    ).click()
    page.locator(f'#history-list a[data-report="{legacy}"]').click()
    expect(page.locator("#rb-detail")).to_be_visible()
    expect(page.locator("#rb-verify-result")).to_contain_text("Not sealed")
    expect(page.locator("#rb-pdf")).to_be_disabled()
    assert sealed() == 0  # reading the report sealed nothing
    page.click("#rb-seal")
    expect(page.locator("#rb-verify-result")).to_contain_text("Sealed")
    expect(page.locator("#rb-seal")).to_be_hidden()
    sha = page.locator("#rb-sha").inner_text()
    assert len(sha) == 64 and sealed() == 1
    page.click("#rb-verify-this")
    expect(page.locator("#rb-verify-result")).to_contain_text("Genuine")
    with page.expect_download() as info:
        page.click("#rb-pdf")
    target = tmp_path / "report.pdf"
    info.value.save_as(target)
    assert sha in " ".join(pdf_text(target.read_bytes()).split("\n"))
