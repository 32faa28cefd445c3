"""No token in any log line: a real ``fleet serve`` with uvicorn's own access log, driven with
tokens in the places a client might put them; its whole output must not contain one."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import httpx
import pytest
import websockets

from fleet.logredact import redact
from tests.support import base_env, run_fleet, serve


def test_redact_rules() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    assert (
        redact(f"/api/v1/ws?token={jwt}&topics=fleet") == "/api/v1/ws?token=[redacted]&topics=fleet"
    )
    assert (
        redact("/x?refresh_token=abc&qr_code=FLQR-1")
        == "/x?refresh_token=[redacted]&qr_code=[redacted]"
    )
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer [redacted]"
    assert redact(f"sent {jwt} somewhere") == "sent [redacted] somewhere"
    assert (
        redact("/api/v1/users?skip=0&limit=5&config_key=a")
        == "/api/v1/users?skip=0&limit=5&config_key=a"
    )


def test_handlers_redact_child_loggers_too() -> None:
    """A handler configured before the app is built also redacts what child loggers write."""
    import io
    import logging

    from fleet import logredact

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logredact.install()
        child = logging.getLogger("fleet.some.module")
        child.setLevel(logging.INFO)
        child.info("GET %s", "/x?access_token=s3cret&y=1")
    finally:
        root.removeHandler(handler)
    assert "s3cret" not in stream.getvalue()
    assert "access_token=[redacted]&y=1" in stream.getvalue()


@pytest.fixture
def served(tmp_path: Path) -> tuple[str, Path, subprocess.Popen[bytes]]:
    env = base_env(None, tmp_path, PYTHONUNBUFFERED="1")
    run_fleet("db", "upgrade", env=env)
    run_fleet("user", "create", "op", "--role", "operator", "--password", "long-password", env=env)
    log = tmp_path / "server.log"
    with serve(env, log) as server:
        yield server.address, log, server.proc


def test_no_token_in_the_server_log(served: tuple[str, Path, subprocess.Popen[bytes]]) -> None:
    base, log, proc = served
    tokens = httpx.post(
        f"http://{base}/api/v1/auth/login", json={"username": "op", "password": "long-password"}
    ).json()
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    # the secrets a careless client puts in a URL
    httpx.get(f"http://{base}/health", params={"token": access, "access_token": access})
    httpx.get(f"http://{base}/api/v1/auth/me", params={"refresh_token": refresh})
    httpx.get(f"http://{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"})

    async def sockets() -> None:
        # the old way, refused but its handshake line is logged ...
        async with websockets.connect(f"ws://{base}/api/v1/ws?token={access}") as ws:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        # ... and the way the browser client does it now
        async with websockets.connect(
            f"ws://{base}/api/v1/ws?topics=fleet",
            subprotocols=["fleet.v1", f"bearer.{access}"],  # type: ignore[list-item]
        ) as ws:
            with pytest.raises(websockets.ConnectionClosed) as info:  # operators: no 'fleet'
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None and info.value.rcvd.code == 4403
        async with websockets.connect(
            f"ws://{base}/api/v1/ws",
            subprotocols=["fleet.v1", f"bearer.{access}"],  # type: ignore[list-item]
        ) as ws:
            await ws.send(json.dumps({"action": "subscribe", "topics": []}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["event"] == "subscribed"

    asyncio.run(sockets())
    proc.terminate()
    proc.wait(timeout=20)
    text = log.read_text()
    # the lines are there (the access log writes paths without their query string) ...
    assert "fleet.access" in text and "GET /health 200" in text
    assert "WS /api/v1/ws closed" in text
    assert access not in text and refresh not in text  # ... without the secrets
    for part in access.split("."):
        assert part not in text
