"""Device-API benchmark on PostgreSQL with the server on 2 workers.

Measures, through the real protocol against ``fleet serve --workers 2``:
1. DDI polling: N simulated devices (default 2 000) polling every 10 s; poll latency median
   and p95 as the devices see it (target: median under 20 ms);
2. telemetry ingestion: concurrent devices posting batches of 1 000 samples; samples per
   second stored in PostgreSQL (target: at least 50 000/s), checked by counting the rows;
3. live events: a WebSocket client subscribed to ``device:<id>``; time from the device posting
   a batch to the ``sensor.reading`` arriving (target: median under 50 ms).

The database is emptied first. Run by hand (never part of the test suite):

    .venv/bin/python bench/devices_bench.py [--url postgresql://postgres@127.0.0.1:5432/fleet_h5_b]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import create_engine, func, select

from fleet import migrate
from fleet.auth.security import hash_password_sync
from fleet.cli import db_session
from fleet.devices_api import simulator
from fleet.models import Device, TelemetrySample, User
from fleet.settings import Settings, sync_database_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from tests.support import base_env, empty_postgres, start_server


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _serve(url: str, data: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    env = base_env(url, data, FLEET_DDI_POLLING_SECONDS="10")
    served = start_server(env, data / "server.log", ["--workers", str(workers)])
    return served.proc, served.base


class RawHttp:
    """A minimal HTTP/1.1 keep-alive connection: the load generator must cost little CPU, as it
    shares the machine with the server it measures."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body:
            head += f"Content-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length) if length else b""
        return int(status_line.split()[1]), payload


async def bench_polling(
    base: str, devices: list[simulator.SimDevice], seconds: float, connections: int
) -> None:
    print(f"\n1. DDI polling: {len(devices)} devices, every 10 s, measured for {seconds:.0f} s")
    url = httpx.URL(base)
    host, port = url.host, url.port or 80
    pool: asyncio.Queue[RawHttp] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(RawHttp(host, port))
    latencies: list[float] = []
    errors = 0
    measuring = False

    async def poll(device: simulator.SimDevice) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            started = time.perf_counter()
            status, _body = await conn.request(
                "GET",
                f"/DEFAULT/controller/v1/{device.controller_id}",
                {"Authorization": f"TargetToken {device.token}"},
            )
            if measuring:
                latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                errors += 1
        finally:
            pool.put_nowait(conn)

    async def device_loop(device: simulator.SimDevice, offset: float, until: float) -> None:
        await asyncio.sleep(offset)
        while time.monotonic() < until:
            began = time.monotonic()
            await poll(device)
            await asyncio.sleep(max(0.0, 10.0 - (time.monotonic() - began)))

    # Warm-up: every device polls once (coming online is announced once, not per poll).
    for i in range(0, len(devices), connections):
        await asyncio.gather(*(poll(d) for d in devices[i : i + connections]))
    measuring = True
    began = time.monotonic()
    until = began + seconds
    step = 10.0 / len(devices)
    await asyncio.gather(*(device_loop(d, i * step, until) for i, d in enumerate(devices)))
    print(f"   polls: {len(latencies)} ({len(latencies) / seconds:.0f}/s), errors: {errors}")
    print(
        f"   poll latency: median {statistics.median(latencies):.1f} ms, "
        f"p95 {_pct(latencies, 0.95):.1f} ms, p99 {_pct(latencies, 0.99):.1f} ms"
        f"   (target: median < 20 ms)"
    )


async def bench_telemetry(
    base: str, url: str, devices: list[simulator.SimDevice], seconds: float, batch: int
) -> None:
    print(f"\n2. Telemetry: {len(devices)} devices posting batches of {batch} for {seconds:.0f} s")
    engine = create_engine(sync_database_url(url))
    with engine.connect() as conn:
        before = conn.scalar(select(func.count(TelemetrySample.id))) or 0
    sent = 0
    refused = 0
    stop = time.monotonic() + seconds
    t_start = int(time.time() * 1000) - 3_600_000

    address = httpx.URL(base)

    async def poster(device: simulator.SimDevice, k: int) -> None:
        nonlocal sent, refused
        conn = RawHttp(address.host, address.port or 80)
        headers = {
            "Authorization": f"TargetToken {device.token}",
            "Content-Type": "application/json",
        }
        t = t_start + k  # a distinct, increasing clock per device
        while time.monotonic() < stop:
            # Formatted directly: the generator must not eat the CPU the server needs.
            body = (
                '{"samples":['
                + ",".join(
                    f'{{"t":{t + i},"pressure_low":{-14.0 + (i % 50) * 0.01:.2f},'
                    f'"pressure_high":1.5,"flow":0.2}}'
                    for i in range(batch)
                )
                + "]}"
            ).encode()
            t += batch
            status, _ = await conn.request("POST", "/api/v1/device-api/telemetry", headers, body)
            if status == 200:
                sent += batch
            else:
                refused += 1

    began = time.perf_counter()
    await asyncio.gather(*(poster(d, k) for k, d in enumerate(devices)))
    elapsed = time.perf_counter() - began
    with engine.connect() as conn:
        stored = (conn.scalar(select(func.count(TelemetrySample.id))) or 0) - before
    engine.dispose()
    print(f"   accepted {sent} samples, refused batches {refused}, rows stored {stored}")
    print(f"   throughput: {stored / elapsed:,.0f} samples/s   (target: >= 50 000/s)")


async def bench_ws(
    base: str, device: simulator.SimDevice, access: str, device_id: int, rounds: int
) -> None:
    print(f"\n3. Live events: {rounds} batches, device -> server -> WebSocket client")
    ws_url = base.replace("http://", "ws://") + f"/api/v1/ws?topics=device:{device_id}"
    protocols = ["fleet.v1", f"bearer.{access}"]  # the token never goes into the URL
    headers = {"Authorization": f"TargetToken {device.token}"}
    latencies: list[float] = []
    t = int(time.time() * 1000)
    async with (
        websockets.connect(ws_url, subprotocols=protocols) as ws,  # type: ignore[arg-type]
        httpx.AsyncClient(base_url=base) as client,
    ):
        assert json.loads(await ws.recv())["event"] == "subscribed"
        for _ in range(rounds):
            samples = [{"t": t + i, "pressure_low": -14.0, "flow": 0.1} for i in range(10)]
            t += 10
            sent_at = time.perf_counter()
            post = asyncio.create_task(
                client.post(
                    "/api/v1/device-api/telemetry", headers=headers, json={"samples": samples}
                )
            )
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["event"] == "sensor.reading":
                    break
            latencies.append((time.perf_counter() - sent_at) * 1000)
            r = await post
            assert r.status_code == 200, r.text
            await asyncio.sleep(0.02)
    print(
        f"   post -> sensor.reading: median {statistics.median(latencies):.1f} ms, "
        f"p95 {_pct(latencies, 0.95):.1f} ms   (target: median < 50 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/fleet_h5_b")
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--poll-seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=50, help="poll connections")
    parser.add_argument("--telemetry-devices", type=int, default=16)
    parser.add_argument("--telemetry-seconds", type=float, default=15)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--ws-rounds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    empty_postgres(args.url)
    data = Path(tempfile.mkdtemp(prefix="devices-bench-"))
    settings = Settings(env="development", data_dir=data, database_url=args.url)
    migrate.upgrade(settings)
    with db_session(settings) as session:
        devices = simulator.provision(session, args.devices, "BENCH")
        session.add(
            User(
                username="bench",
                role="manager",
                roles=["manager"],
                is_active=True,
                password_hash=hash_password_sync("bench-pass", 4),
            )
        )
    with db_session(settings) as session:
        watched_id = session.scalar(
            select(Device.id).where(Device.device_number == devices[-1].controller_id)
        )
    proc, base = _serve(args.url, data, args.workers)
    print(f"server: {base}, {args.workers} workers, PostgreSQL; {args.devices} devices")
    try:
        asyncio.run(bench_polling(base, devices, args.poll_seconds, args.connections))
        asyncio.run(
            bench_telemetry(
                base,
                args.url,
                devices[: args.telemetry_devices],
                args.telemetry_seconds,
                args.batch,
            )
        )
        r = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "bench", "password": "bench-pass"}
        )
        r.raise_for_status()
        access: Any = r.json()["access_token"]
        assert watched_id is not None
        asyncio.run(bench_ws(base, devices[-1], access, watched_id, args.ws_rounds))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
