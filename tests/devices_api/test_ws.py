"""WebSocket: token auth, per-topic authorization, live events, slow clients, other processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.devices_api.fanout import FanoutBus
from fleet.events import QUEUE_SIZE
from fleet.models import TestReport
from fleet.settings import Settings
from tests.conftest import add_user, login
from tests.factories import add_ddi_device, add_device, ddi, issue_token


def _connect(url: str, token: str | None) -> Any:
    """Open the live-events socket the way the browser does: the token as a subprotocol."""
    protocols = ["fleet.v1", *([f"bearer.{token}"] if token is not None else [])]
    return websockets.connect(url, subprotocols=protocols)  # type: ignore[list-item]


async def _closed_with(url: str, token: str | None, send: dict[str, Any] | None = None) -> int:
    async with _connect(url, token) as ws:
        if send is not None:
            await ws.send(json.dumps(send))
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    return info.value.rcvd.code


async def _next_event(ws: Any, name: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message["event"] == name:
            return message


async def test_ws_auth_and_topic_rules(
    live: str,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    device_id = await add_device(sessionmaker, "MT-W")
    op = await add_user(sessionmaker, "op2", "operator")
    async with sessionmaker() as session, session.begin():
        mine = TestReport(
            device_id=device_id,
            operator_id=op.id,
            start_time=datetime.now(UTC),
            status="in_progress",
        )
        theirs = TestReport(device_id=device_id, start_time=datetime.now(UTC), status="passed")
        session.add_all([mine, theirs])
    op_token = (await login(client, "op2"))["access_token"]
    manager = role_headers["manager"]["Authorization"].split()[1]
    base = f"ws://{live}/api/v1/ws"
    assert await _closed_with(base, None) == 4401
    assert await _closed_with(base, "garbage") == 4401
    device_token = await issue_token(client, role_headers["maker"], device_id)
    assert await _closed_with(base, device_token) == 4401
    # the token is never taken from the URL (a URL ends up in access logs)
    async with websockets.connect(f"{base}?token={op_token}") as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4401
    assert await _closed_with(f"{base}?topics=fleet", op_token) == 4403
    assert await _closed_with(f"{base}?topics=test:{theirs.id}", op_token) == 4403
    assert await _closed_with(f"{base}?topics=device:99999", op_token) == 4404
    assert await _closed_with(f"{base}?topics=secret", op_token) == 4404
    bad = {"action": "explode"}
    assert await _closed_with(base, op_token, bad) == 4400
    forbidden = {"action": "subscribe", "topics": ["fleet"]}
    assert await _closed_with(base, op_token, forbidden) == 4403

    async with _connect(base, op_token) as ws:
        assert ws.subprotocol == "fleet.v1"  # the server never echoes the token
        await ws.send(
            json.dumps(
                {"action": "subscribe", "topics": [f"device:{device_id}", f"test:{mine.id}"]}
            )
        )
        ack = await _next_event(ws, "subscribed")
        assert ack["data"]["topics"] == sorted([f"device:{device_id}", f"test:{mine.id}"])
        await ws.send(json.dumps({"action": "unsubscribe", "topics": [f"test:{mine.id}"]}))
        ack = await _next_event(ws, "unsubscribed")
        assert ack["data"]["topics"] == [f"device:{device_id}"]
    async with _connect(f"{base}?topics=fleet,test:{theirs.id}", manager) as ws:
        ack = await _next_event(ws, "subscribed")
        assert "fleet" in ack["data"]["topics"]


async def test_live_events_reach_subscribers(
    live: str,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    device_id, headers = await add_ddi_device(client, sessionmaker, role_headers["maker"], "MT-L")
    manager = role_headers["manager"]["Authorization"].split()[1]
    url = f"ws://{live}/api/v1/ws?topics=fleet,device:{device_id}"
    async with _connect(url, manager) as ws, httpx.AsyncClient(base_url=f"http://{live}") as http:
        await _next_event(ws, "subscribed")
        assert (await http.get(ddi("MT-L"), headers=headers)).status_code == 200
        changed = await _next_event(ws, "device.status_changed")
        assert changed["data"]["status"] == "online" and changed["data"]["device_id"] == device_id
        t0 = int((datetime.now(UTC) - timedelta(minutes=1)).timestamp() * 1000)
        samples = [{"t": t0 + i, "pressure_low": -14.0} for i in range(3)]
        r = await http.post(
            "/api/v1/device-api/telemetry", headers=headers, json={"samples": samples}
        )
        assert r.status_code == 200, r.text
        reading = await _next_event(ws, "sensor.reading")
        assert len(reading["data"]["samples"]) == 3
        assert set(reading) == {"event", "data", "ts"}


async def test_slow_subscriber_is_dropped_not_waited_for(app: Any) -> None:
    bus: FanoutBus = app.state.events
    slow = bus.subscribe({"device:1"})
    fast = bus.subscribe({"device:1"})
    await bus.ready()
    received = 0

    async def drain() -> None:
        nonlocal received
        while received < QUEUE_SIZE + 10:
            await asyncio.wait_for(fast.queue.get(), 10)
            received += 1

    reader = asyncio.create_task(drain())
    for i in range(QUEUE_SIZE + 10):
        await bus.publish("device:1", "sensor.reading", {"i": i})
        await asyncio.sleep(0)  # a server yields between requests; the fast reader keeps up
    await reader
    assert slow.dropped and not fast.dropped
    assert not bus.has_subscribers("device:1") or fast in bus._subs["device:1"]
    bus.unsubscribe(fast)


PUBLISHER = """
import asyncio, sys
from fleet.db import create_engine
from fleet.devices_api.fanout import FanoutBus
from fleet.settings import Settings

async def main():
    engine = create_engine(Settings(database_url=sys.argv[1], data_dir=sys.argv[2]))
    bus = FanoutBus(engine)
    await bus.publish_many([sys.argv[3]], "notification", {"from": "another process"})
    await engine.dispose()

asyncio.run(main())
"""


async def test_events_cross_processes(
    live: str,
    settings: Settings,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    role_headers: dict[str, dict[str, str]],
) -> None:
    """On PostgreSQL an event published by another process reaches this one's WebSocket."""
    device_id = await add_device(sessionmaker, "MT-X")
    bus: FanoutBus = client._transport.app.state.events  # type: ignore[attr-defined]
    assert bus.cross_process is (settings.resolved_database_url().startswith("postgresql"))
    if not bus.cross_process:
        # SQLite serves one machine: delivery is in-process and immediate.
        sub = bus.subscribe({f"device:{device_id}"})
        await bus.publish(f"device:{device_id}", "notification", {"n": 1})
        assert sub.queue.get_nowait()["data"] == {"n": 1}
        bus.unsubscribe(sub)
        return
    manager = role_headers["manager"]["Authorization"].split()[1]
    url = f"ws://{live}/api/v1/ws?topics=device:{device_id}"
    async with _connect(url, manager) as ws:
        await _next_event(ws, "subscribed")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PUBLISHER,
            settings.resolved_database_url(),
            str(settings.data_dir),
            f"device:{device_id}",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()[-2000:]
        event = await _next_event(ws, "notification")
        assert event["data"] == {"from": "another process"}
