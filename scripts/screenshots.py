"""Screenshots of the main pages for the README: serve fresh demo data, sign in, and capture each
page at 1440x900 (desktop) and 390x844 (phone) into docs/screenshots/.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
PAGES = [
    ("home", "/", "maker1"),
    ("connect", "/connect-plus-plus", "operator1"),
    ("reports", "/connect-plus-plus#reports", "operator1"),
    ("connect-manager", "/connect-manager", "maker1"),
    ("fdm-dashboard", "/fleet-data-manager#dashboard", "manager1"),
    ("fdm-devices", "/fleet-data-manager#devices", "manager1"),
    ("fdm-reports", "/fleet-data-manager#reports", "manager1"),
    ("config", "/fleet-config-manager", "maker1"),
    ("software", "/fleet-software-manager#rollouts", "maker1"),
    ("admin", "/admin#logs", "maker1"),
]
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "DATABASE_URL"))}
        env.update({"FLEET_DATA_DIR": data, "FLEET_ENV": "development", "FLEET_BCRYPT_ROUNDS": "4"})
        fleet = [sys.executable, "-m", "fleet.cli"]
        subprocess.run([*fleet, "demo"], env=env, check=True, capture_output=True)
        port = _port()
        server = subprocess.Popen(
            [*fleet, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                for size, (width, height) in SIZES.items():
                    for name, path, user in PAGES:
                        context = browser.new_context(viewport={"width": width, "height": height})
                        page = context.new_page()
                        page.goto(f"{base}/")
                        page.fill("#username", user)
                        page.fill("#password", "pass")
                        page.click("#password-form button[type=submit]")
                        page.wait_for_selector("#home-view:not([hidden])")
                        page.goto(f"{base}{path}")
                        page.wait_for_load_state("networkidle")
                        page.wait_for_timeout(500)
                        page.screenshot(path=str(OUT / f"{name}-{size}.png"))
                        context.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    print(f"screenshots in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
