"""Screenshots of the main pages for the README: serve the living demo (`fleet serve --demo`) on
fresh data, start the demo roll-out and a test in Connect++, sign in as each page's user and
capture the pages at 1440x900 (desktop) and 390x844 (phone) into docs/screenshots/, as small
256-colour PNGs.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
DESKTOP, PHONE = (1440, 900), (390, 844)


def _running_test(page: Page) -> None:
    """Connect++ in the middle of a yearly test: step 1 passed, the bench holding pressure."""
    base = page.url.split("/connect-plus-plus")[0]
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": "maker1", "password": "pass"},
                   timeout=30)
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    for running in httpx.get(f"{base}/api/v1/tests/running", headers=h, timeout=30).json():
        # the desktop picture's test, left running: the phone starts its own
        httpx.post(f"{base}/api/v1/tests/{running['id']}/abort", headers=h,
                   json={"reason": "screenshot taken"}, timeout=30)
    page.reload()
    page.wait_for_load_state("networkidle")
    page.click('#cpp-choices [data-kind="full_face_mask"]')
    page.click('#cpp-choices [data-type="mask_tester"]')
    page.click('#cpp-choices [data-test="yearly"]')
    page.click('#cpp-choices [data-scenario="Yearly full-face mask test"]')
    page.fill("#cpp-device-q", "SIM-FFM-0001")
    page.keyboard.press("Enter")
    page.wait_for_selector("#cpp-run:not([hidden])")
    page.click("#cpp-passed")
    page.wait_for_selector('#cpp-steps li[data-order="1"][data-result="passed"]')
    page.click("#cpp-bench")
    page.wait_for_timeout(4000)


def _rollout_detail(page: Page) -> None:
    page.locator("#ro-table tbody tr", has_text="2.10.0 staged").locator("button").first.click()
    page.wait_for_selector("#ro-detail:not([hidden])")


def _quiet(page: Page) -> None:
    """Pages that load all they show at once."""


# name, path, user, sizes, what to do before the picture
SHOTS: list[tuple[str, str, str, list[tuple[int, int]], Callable[[Page], None]]] = [
    ("home", "/", "maker1", [DESKTOP, PHONE], _quiet),
    ("connect", "/connect-plus-plus", "operator1", [DESKTOP, PHONE], _running_test),
    ("reports", "/connect-plus-plus#reports", "operator1", [DESKTOP], _quiet),
    ("fdm-dashboard", "/fleet-data-manager#dashboard", "manager1", [DESKTOP], _quiet),
    ("fdm-devices", "/fleet-data-manager#devices", "manager1", [DESKTOP, PHONE], _quiet),
    ("fdm-reports", "/fleet-data-manager#reports", "manager1", [DESKTOP], _quiet),
    ("software", "/fleet-software-manager#rollouts", "maker1", [DESKTOP, PHONE], _rollout_detail),
    ("workshop", "/fleet-workshop-manager#board", "manager1", [DESKTOP], _quiet),
    ("connect-manager", "/connect-manager", "maker1", [DESKTOP], _quiet),
    ("config", "/fleet-config-manager", "maker1", [DESKTOP], _quiet),
    ("admin", "/admin#logs", "maker1", [DESKTOP], _quiet),
]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the demo server did not start")


def _start_demo_rollout(base: str) -> None:
    """Start the demo's staged roll-out; its testers take the first group within seconds."""
    r = httpx.post(f"{base}/api/v1/auth/login", json={"username": "maker1", "password": "pass"},
                   timeout=30)
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    rollouts = httpx.get(f"{base}/api/v1/fleet-software/rollouts", headers=h, timeout=30).json()
    staged = next(ro for ro in rollouts if ro["name"].endswith("2.10.0 staged"))
    httpx.post(f"{base}/api/v1/fleet-software/rollouts/{staged['id']}/start", headers=h, timeout=30)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        url = f"{base}/api/v1/fleet-software/rollouts/{staged['id']}"
        detail = httpx.get(url, headers=h, timeout=30)
        if detail.json()["current_group"] >= 1:
            return
        time.sleep(0.5)
    raise RuntimeError("the demo roll-out did not pass its first group")


def _small(path: Path) -> None:
    """Keep the PNG small: 256 colours are plenty for pages of text."""
    with Image.open(path) as image:
        quantized = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    quantized.save(path, optimize=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "DATABASE_URL"))}
        env.update({"FLEET_DATA_DIR": data, "FLEET_ENV": "development", "FLEET_BCRYPT_ROUNDS": "4",
                    "FLEET_DEMO_POLL_SECONDS": "1"})
        port = _port()
        server = subprocess.Popen(  # noqa: S603 - our own command line
            [sys.executable, "-m", "fleet.cli", "serve", "--demo", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base)
            _start_demo_rollout(base)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox"]
                )
                for name, path, user, sizes, prepare in SHOTS:
                    for width, height in sizes:
                        context = browser.new_context(viewport={"width": width, "height": height})
                        page = context.new_page()
                        page.goto(f"{base}/")
                        page.fill("#username", user)
                        page.fill("#password", "pass")
                        page.click("#password-form button[type=submit]")
                        page.wait_for_selector("#home-view:not([hidden])")
                        page.goto(f"{base}{path}")
                        page.wait_for_load_state("networkidle")
                        prepare(page)
                        page.wait_for_timeout(500)
                        size = "desktop" if (width, height) == DESKTOP else "phone"
                        target = OUT / f"{name}-{size}.png"
                        page.screenshot(path=str(target))
                        _small(target)
                        context.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"screenshots in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
