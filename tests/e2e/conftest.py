"""Browser tests: a real `fleet serve` with demo data, driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fleet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleet.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )


class SmtpInbox:
    """A real SMTP server on loopback that keeps what it receives (workshop reminders)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_inbox() -> Iterator[tuple[SmtpInbox, int]]:
    inbox = SmtpInbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="session")
def server_env(
    tmp_path_factory: pytest.TempPathFactory, smtp_inbox: tuple[SmtpInbox, int]
) -> dict[str, str]:
    data = tmp_path_factory.mktemp("e2e-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "DATABASE_URL"))}
    env.update(
        {"FLEET_DATA_DIR": str(data), "FLEET_ENV": "development", "FLEET_BCRYPT_ROUNDS": "4"}
    )
    env.update({"FLEET_SMTP_HOST": "127.0.0.1", "FLEET_SMTP_PORT": str(smtp_inbox[1]),
                "FLEET_SMTP_TLS": "none", "FLEET_SMTP_SENDER": "workshop@fleet.example"})
    return env


@pytest.fixture(scope="session")
def live_server(server_env: dict[str, str]) -> Iterator[str]:
    """Serve the app with demo data on a free port; answers its base URL."""
    _fleet("demo", env=server_env)
    port = _free_port()
    log = open(Path(server_env["FLEET_DATA_DIR"]) / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "serve", "--port", str(port)],
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start: " + Path(log.name).read_text()[-2000:])
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1366, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        p.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{rep.when}", rep)


def login_ui(page: Page, base: str, username: str, password: str = "pass") -> None:
    """Sign in through the landing page's password form and wait for the module cards."""
    page.goto(f"{base}/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("#home-view:not([hidden])")
