"""Connect++ in the browser: an operator runs the yearly mask test on the simulated bench through
the live page and downloads the PDF; the 1280x400 Connect Display fits without scrolling;
Connect Manager edits a scenario's steps."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, WebSocket, expect

from tests.e2e.conftest import ARTIFACTS, login_ui
from tests.runs.pdftext import pdf_text

DEVICE = "SIM-FFM-0001"


def _choose_yearly(page: Page) -> None:
    page.click('#cpp-choices [data-kind="full_face_mask"]')
    page.click('#cpp-choices [data-type="mask_tester"]')
    page.click('#cpp-choices [data-test="yearly"]')
    page.click('#cpp-choices [data-scenario="Yearly full-face mask test"]')
    page.fill("#cpp-device-q", DEVICE)
    page.keyboard.press("Enter")  # a scanned code matches exactly and starts the test
    page.wait_for_selector("#cpp-run:not([hidden])")


def _recorded(page: Page, order: int, result: str = "passed") -> None:
    page.wait_for_selector(
        f'#cpp-steps li[data-order="{order}"][data-result="{result}"]', timeout=30_000
    )


def test_operator_runs_the_yearly_test_and_downloads_the_pdf(
    page: Page, live_server: str, tmp_path: Path, server_env: dict[str, str]
) -> None:
    sockets: list[dict[str, object]] = []

    def watch(ws: WebSocket) -> None:
        seen: dict[str, object] = {"url": ws.url, "frames": []}
        ws.on("framereceived", lambda frame: seen["frames"].append(frame))  # type: ignore[union-attr]
        sockets.append(seen)

    page.on("websocket", watch)
    login_ui(page, live_server, "operator1")
    page.goto(f"{live_server}/connect-plus-plus")
    _choose_yearly(page)
    expect(page.locator("#cpp-title")).to_contain_text("Yearly full-face mask test")
    expect(page.locator("#cpp-step-name")).to_have_text("1. Visual inspection")
    page.fill("#cpp-notes", "visor clean, straps fine")
    page.click("#cpp-passed")
    _recorded(page, 1)
    page.select_option("#cpp-speed", "20")
    chart = "Chart.getChart(document.getElementById('cpp-chart')).data.datasets"
    for order in range(2, 7):
        expect(page.locator("#cpp-step-limits")).not_to_be_empty()
        if order in (2, 4, 6):  # target ± tolerance, allowed loss, flow range: limit bands
            assert page.evaluate(f"() => {chart}.length") == 3
        page.click("#cpp-bench")
        if order == 4:  # the 60 s hold streams in while the operator watches
            page.wait_for_function(f"() => {chart}[0].data.length > 50", timeout=20_000)
        _recorded(page, order)
    expect(page.locator("#cpp-eval")).to_contain_text("Flow")
    page.click("#cpp-passed")
    _recorded(page, 7)
    page.click("#cpp-complete")
    expect(page.locator("#cpp-verdict")).to_contain_text("Passed")
    # each step's measurement in words, not raw keys
    expect(page.locator('#cpp-summary tr[data-order="4"]')).to_contain_text("loss")
    expect(page.locator('#cpp-summary tr[data-order="4"]')).not_to_contain_text("loss_percent")
    sha = page.locator("#cpp-sha").inner_text()
    assert len(sha) == 64
    with page.expect_download() as info:
        page.click("#cpp-pdf")
    target = tmp_path / "report.pdf"
    info.value.save_as(target)
    text = " ".join(pdf_text(target.read_bytes()).split("\n"))
    assert "Verdict: PASSED" in text and DEVICE in text and sha in text
    assert "operator1" in text and "Next test due:" in text
    # the live page got its events over the WebSocket, its token not in the URL nor in the log
    assert sockets and all("token" not in str(s["url"]) for s in sockets)
    assert any("subscribed" in str(f) for s in sockets for f in s["frames"])  # type: ignore[attr-defined]
    server_log = (Path(server_env["FLEET_DATA_DIR"]) / "server.log").read_text()
    assert "WebSocket /api/v1/ws?topics=test:" in server_log
    assert "eyJ" not in server_log


def test_connect_display_fits_1280x400(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "operator1")
    page.set_viewport_size({"width": 1280, "height": 400})
    page.goto(f"{live_server}/connect-display")
    page.wait_for_selector('#cpp-choices [data-kind="full_face_mask"]')
    _choose_yearly(page)
    page.click("#cpp-passed")
    _recorded(page, 1)
    page.select_option("#cpp-speed", "20")
    page.click("#cpp-bench")
    _recorded(page, 2)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "connect-display-1280x400.png"))
    size = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert size[0] <= 1280 and size[1] <= 400, size
    for selector in ("#cpp-bench", "#cpp-evaluate", "#cpp-abort", "#cpp-chart", "#cpp-steps"):
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["x"] >= 0 and box["y"] >= 0, selector
        assert box["x"] + box["width"] <= 1280 and box["y"] + box["height"] <= 400, selector
    assert page.locator("#cpp-bench").bounding_box()["height"] >= 44  # a finger fits
    page.click("#cpp-abort")
    page.fill("#cpp-abort-form input[name=reason]", "display check")
    page.click("#cpp-abort-form button[type=submit]")
    expect(page.locator("#cpp-done-info")).to_contain_text("Aborted: display check")


def test_connect_manager_edits_steps(page: Page, live_server: str) -> None:
    login_ui(page, live_server, "admin")
    page.goto(f"{live_server}/connect-manager")
    row = page.locator('#cm-table tr[data-name="Quick after-use check"]')
    row.get_by_role("button", name="Duplicate").click()
    copy = page.locator('#cm-table tr[data-name="Quick after-use check (copy)"]')
    copy.get_by_role("button", name="Edit").click()
    expect(page.locator("#cm-steps > li")).to_have_count(4)
    page.click("#cm-add-step")
    last = page.locator("#cm-steps > li").nth(4)
    last.locator("select[aria-label=Action]").select_option("flow_test")
    last.locator("select.cm-ctype").select_option("range")
    last = page.locator("#cm-steps > li").nth(4)
    last.locator("input[name=min]").fill("12")
    last.locator("input[name=max]").fill("9")
    last.locator("input[name=max]").press("Tab")
    page.click("#cm-save")
    expect(page.locator('.cm-step-errors[data-step="4"]')).to_contain_text("min is greater")
    last.locator("input[name=max]").fill("14")
    last.locator("input[name=max]").press("Tab")
    last.get_by_role("button", name="Move up").click()
    page.click("#cm-save")
    expect(page.locator("#cm-status")).to_have_text("saved")
    page.click(".tab[data-pane=json]")
    expect(page.locator("#cm-json")).to_contain_text("flow_test")
    expect(copy.locator("td").nth(3)).to_have_text("5")
