"""Structured logs: JSON lines with the request id, user and route; nothing secret in any line."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, update

from fleet.models import User
from fleet.ops import context
from fleet.ops.logs import SECRET_NAMES, JsonFormatter, TextFormatter, log_config, redact
from fleet.settings import Settings, sync_database_url
from tests.ops.harness import PASSWORD, add_devices, add_users, live_events
from tests.support import base_env, serve

WRONG_PASSWORD = "Wr0ng-Pa55word-XYZ"
BADGE = "BADGE-7f3c9e1d2b4a"


def _log_through(formatter: logging.Formatter, message: str, *args: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("fleet.test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info(message, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()])
def test_formatters_carry_context_and_redact(formatter: logging.Formatter) -> None:
    scope = {"type": "http", "path": "/x"}
    info = context.RequestInfo(request_id="req-1", method="GET", scope=scope, user_id=7)
    token = context.current.set(info)
    try:
        line = _log_through(
            formatter,
            "%s %s %s %s",
            '"WebSocket /api/v1/ws?token=eyJhbGciOi.eyJzdWIiOiIxIn0.c2ln&topics=fleet"',
            {"username": "u", "password": "hunter2hunter2"},
            "Authorization: TargetToken dev-token-123456",
            f"qr_code={BADGE}",
        )
    finally:
        context.current.reset(token)
    for secret in ("eyJhbGciOi", "hunter2hunter2", "dev-token-123456", BADGE):
        assert secret not in line
    assert "req-1" in line and "<unmatched>" in line
    if isinstance(formatter, JsonFormatter):
        record = json.loads(line)
        assert record["request_id"] == "req-1" and record["user_id"] == 7


def test_the_quick_check_never_skips_a_secret() -> None:
    """Every form each rule matches, for every secret name and scheme in any letter case, is
    still redacted: the quick check in front of the rules lets it through."""
    samples = []
    for name in SECRET_NAMES.split("|"):
        for spelled in (name, name.upper(), name.title()):
            samples += [f"/x?{spelled}=s3cr3t-value", f'{{"{spelled}": "s3cr3t-value"}}']
    for scheme in ("Bearer", "TargetToken", "GatewayToken", "Basic", "BEARER", "basic"):
        samples.append(f"Authorization: {scheme} s3cr3t-value")
    samples.append("sent eyJhbGciOi.eyJzdWIiOiIxIn0.s3cr3t-value somewhere")
    for sample in samples:
        assert "s3cr3t-value" not in redact(sample), sample
    line = "GET /api/v1/fleet-data/devices 200 status=200 duration_ms=3.1 client=127.0.0.1"
    assert redact(line) is line  # nothing to hide: the line itself, untouched


def test_log_config_uses_the_formatter() -> None:
    cfg = log_config("json", "info")
    assert cfg["formatters"]["fleet"]["()"].endswith("JsonFormatter")
    assert cfg["loggers"]["uvicorn.access"]["propagate"] is False


@pytest.mark.ops
def test_json_logs_of_a_served_app(settings: Settings, tmp_path: Path) -> None:
    url = settings.resolved_database_url()
    add_users(url, {"boss": "manager", "badge1": "operator"})
    engine = create_engine(sync_database_url(url))
    with engine.begin() as conn:
        conn.execute(update(User).where(User.username == "badge1").values(qr_code=BADGE))
    engine.dispose()
    device = add_devices(url, 1, "LOG")[0]
    env = base_env(url, settings.data_dir, FLEET_LOG_FORMAT="json", FLEET_SECRET_KEY="k" * 48)
    secrets = [PASSWORD, WRONG_PASSWORD, BADGE, device.token]

    with serve(env, tmp_path / "serve.log") as served:
        http = httpx.Client(base_url=served.base, timeout=30)
        r = http.post(
            "/api/v1/auth/login",
            json={"username": "boss", "password": PASSWORD},
            headers={"X-Request-ID": "given-id-0001"},
        )
        assert r.status_code == 200 and r.headers["X-Request-ID"] == "given-id-0001"
        access, refresh = r.json()["access_token"], r.json()["refresh_token"]
        secrets += [access, refresh]
        auth = {"Authorization": f"Bearer {access}"}
        r = http.get("/api/v1/auth/me", headers=auth)
        made_id = r.headers["X-Request-ID"]
        assert r.status_code == 200 and len(made_id) >= 16
        r = http.post("/api/v1/auth/login", json={"username": "boss", "password": WRONG_PASSWORD})
        assert r.status_code == 401
        r = http.post("/api/v1/auth/login/qr", json={"qr_code": BADGE})
        assert r.status_code == 200
        secrets += [r.json()["access_token"], r.json()["refresh_token"]]
        r = http.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
        secrets += [r.json().get("access_token", "-"), r.json().get("refresh_token", "-")]
        # A token in a query string (the WebSocket's) and a device's token header.
        http.get(f"/api/v1/auth/me?token={access}")
        r = http.get(
            f"/DEFAULT/controller/v1/{device.controller_id}",
            headers={"Authorization": f"TargetToken {device.token}"},
        )
        assert r.status_code == 200
        with live_events(served.base, access, "fleet") as ws:
            assert json.loads(ws.recv(timeout=10))["event"] == "subscribed"
        # A refused request is logged like any other.
        http.get("/api/v1/fleet-data/devices/notanumber", headers=auth)
    lines = [line for line in served.lines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses
    assert records and not [r for r in records if "color_message" in r]
    for line in lines:
        for secret in secrets:
            assert secret not in line, (secret[:8], line)
    by_id = [r for r in records if r.get("request_id") == "given-id-0001"]
    assert any(
        r["logger"] == "fleet.access" and r["route"] == "/api/v1/auth/login" for r in by_id
    ), by_id
    me = [r for r in records if r.get("request_id") == made_id]
    assert me and all(r["route"] == "/api/v1/auth/me" for r in me)
    assert any(
        r["logger"] == "fleet.access" and r["user_id"] is not None and r["status"] == 200
        for r in me
    ), me
    access_lines = [r for r in records if r["logger"] == "fleet.access"]
    assert all(r.get("request_id") for r in access_lines)
    assert all("?" not in r["msg"] for r in access_lines)  # no query strings at all
    assert any(r["msg"].startswith("WS /api/v1/ws") for r in access_lines)
