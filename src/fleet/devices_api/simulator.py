"""Simulated mask testers speaking DDI and telemetry to a running server (``fleet simulate``).

Each simulated device polls its DDI base resource, pushes its attributes when asked
(configData), downloads and verifies artifacts (SHA-256 and MD5 against the deployment's
hashes), reports progress and then success or failure (at a given failure rate), confirms
cancellations, and — while a test runs on it — streams a realistic pressure curve as telemetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.devices_api.credentials import digest, new_token
from fleet.models import Device, DeviceToken, SystemLog

SAMPLE_HZ = 20
BATCH_SECONDS = 0.5


@dataclass
class SimDevice:
    controller_id: str
    token: str


@dataclass
class SimStats:
    """What the simulated fleet did, for the live summary and for benchmarks."""

    devices: int = 0
    polls: int = 0
    poll_ms: list[float] = field(default_factory=list)
    config_pushes: int = 0
    downloads: int = 0
    bytes_downloaded: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    samples: int = 0
    errors: int = 0
    last_error: str = ""

    def median_poll_ms(self) -> float:
        return statistics.median(self.poll_ms) if self.poll_ms else float("nan")

    def line(self) -> str:
        recent = self.poll_ms[-2000:]
        median = statistics.median(recent) if recent else float("nan")
        return (
            f"devices {self.devices} | polls {self.polls} (median {median:.1f} ms) | "
            f"config {self.config_pushes} | downloads {self.downloads} | "
            f"succeeded {self.succeeded} failed {self.failed} canceled {self.canceled} | "
            f"samples {self.samples} | errors {self.errors}"
        )


def provision(session: Session, count: int, prefix: str = "SIM") -> list[SimDevice]:
    """Create (or reuse) ``count`` simulated mask testers and give each a fresh token."""
    numbers = [f"{prefix}-{i:05d}" for i in range(1, count + 1)]
    existing = {
        d.device_number: d
        for d in session.scalars(select(Device).where(Device.device_number.in_(numbers)))
    }
    for number in numbers:
        if number not in existing:
            device = Device(
                device_number=number,
                device_type="mask_tester",
                kind_of_device="simulated",
                serial_number=f"SN-{number}",
                status="active",
            )
            session.add(device)
            existing[number] = device
    session.flush()
    devices = []
    now = datetime.now(UTC)
    for number in numbers:
        token = new_token()
        session.add(
            DeviceToken(
                device_id=existing[number].id,
                token_hash=digest(token),
                prefix=token[:12],
                created_at=now,
            )
        )
        devices.append(SimDevice(number, token))
    session.add(
        SystemLog(
            log_level="INFO",
            action="simulator.provision",
            details={"entity": "device", "count": count, "prefix": prefix},
        )
    )
    session.flush()
    return devices


def read_tokens(text: str) -> list[SimDevice]:
    """Parse ``controllerId token`` lines (blank lines and ``#`` comments ignored)."""
    devices = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"expected 'controllerId token', got {line[:40]!r}")
        devices.append(SimDevice(parts[0], parts[1]))
    return devices


def pressure_sample(elapsed: float, rng: random.Random) -> dict[str, float]:
    """One point of a mask test: evacuate to -14 mbar, hold with a small leak, valve, flow."""
    cycle = elapsed % 30.0
    noise = rng.gauss(0, 0.03)
    flow = 0.0
    if cycle < 4:  # evacuation towards -14 mbar
        low = -14.0 * (1 - math.exp(-cycle / 1.0))
    elif cycle < 16:  # hold: a small leak lets the pressure creep back
        low = -14.0 * (1 - math.exp(-4.0)) + 0.04 * (cycle - 4)
    elif cycle < 20:  # exhalation valve opens around +2.5 mbar
        low = -13.5 + (16.0 * (cycle - 16) / 4)
        low = min(low, 2.5 + rng.gauss(0, 0.05))
    else:  # flow through the mask
        low = 2.5
        flow = 85.0 + rng.gauss(0, 0.8)
    return {
        "pressure_low": round(low + noise, 4),
        "pressure_high": round(1.5 + rng.gauss(0, 0.002), 5),
        "flow": round(max(0.0, flow), 3),
    }


def _parse_sleep(value: str) -> float:
    h, m, s = (int(x) for x in value.split(":"))
    return float(h * 3600 + m * 60 + s)


class DeviceRunner:
    """One simulated tester."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        device: SimDevice,
        stats: SimStats,
        *,
        tenant: str,
        fail_rate: float,
        poll_interval: float | None,
        telemetry: bool,
        rng: random.Random,
    ) -> None:
        self.client = client
        self.device = device
        self.stats = stats
        self.tenant = tenant
        self.fail_rate = fail_rate
        self.poll_interval = poll_interval
        self.telemetry = telemetry
        self.rng = rng
        self.headers = {"Authorization": f"TargetToken {device.token}"}
        self.base = f"/{tenant}/controller/v1/{device.controller_id}"
        self.firmware = "0.0.0"
        self._last_t = 0

    def _path(self, href: str) -> str:
        url = httpx.URL(href)
        return url.raw_path.decode()

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.poll_interval or 1.0))
        while not stop.is_set():
            sleep = 1.0
            try:
                sleep = await self.cycle(stop)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.stats.errors += 1
                self.stats.last_error = f"{self.device.controller_id}: {exc!s}"[:200]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval or sleep):
                    await stop.wait()

    async def cycle(self, stop: asyncio.Event) -> float:
        started = time.perf_counter()
        r = await self.client.get(self.base, headers=self.headers)
        self.stats.poll_ms.append((time.perf_counter() - started) * 1000)
        self.stats.polls += 1
        r.raise_for_status()
        body = r.json()
        links = body.get("_links", {})
        if "configData" in links:
            await self.push_config(self._path(links["configData"]["href"]))
        if "cancelAction" in links:
            await self.confirm_cancel(self._path(links["cancelAction"]["href"]))
        elif "deploymentBase" in links:
            await self.deploy(self._path(links["deploymentBase"]["href"]))
        if self.telemetry:
            await self.stream_running_test(stop)
        return _parse_sleep(body["config"]["polling"]["sleep"])

    async def push_config(self, path: str) -> None:
        data = {
            "hwRevision": "3",
            "serial": f"SN-{self.device.controller_id}",
            "firmware": self.firmware,
            "model": "MT-Sim",
        }
        r = await self.client.put(path, headers=self.headers, json={"mode": "merge", "data": data})
        r.raise_for_status()
        self.stats.config_pushes += 1

    async def confirm_cancel(self, path: str) -> None:
        info = (await self.client.get(path, headers=self.headers)).json()
        stop_id = info["cancelAction"]["stopId"]
        feedback = path.rsplit("/", 1)[0] + f"/{stop_id}/feedback"
        await self.feedback(feedback, stop_id, "closed", "success", ["canceled by the device"])
        self.stats.canceled += 1

    async def feedback(
        self,
        path: str,
        action_id: str,
        execution: str,
        finished: str,
        details: list[str],
        progress: tuple[int, int] | None = None,
    ) -> None:
        result: dict[str, Any] = {"finished": finished}
        if progress:
            result["progress"] = {"cnt": progress[0], "of": progress[1]}
        body = {
            "id": action_id,
            "time": datetime.now(UTC).strftime("%Y%m%dT%H%M%S"),
            "status": {"execution": execution, "result": result, "details": details},
        }
        r = await self.client.post(path, headers=self.headers, json=body)
        r.raise_for_status()

    async def deploy(self, path: str) -> None:
        r = await self.client.get(path, headers=self.headers)
        r.raise_for_status()
        dep = r.json()
        action_id = dep["id"]
        feedback = path.split("?", 1)[0] + "/feedback"
        chunks = dep["deployment"]["chunks"]
        artifacts = [a for c in chunks for a in c.get("artifacts", [])]
        steps = len(artifacts) + 2
        await self.feedback(feedback, action_id, "proceeding", "none", ["downloading"], (1, steps))
        for i, artifact in enumerate(artifacts, start=2):
            problem = await self.download(artifact)
            if problem:
                await self.feedback(feedback, action_id, "closed", "failure", [problem])
                self.stats.failed += 1
                return
            await self.feedback(
                feedback,
                action_id,
                "proceeding",
                "none",
                [f"verified {artifact['filename']}"],
                (i, steps),
            )
        if self.rng.random() < self.fail_rate:
            await self.feedback(
                feedback, action_id, "closed", "failure", ["simulated installation failure"]
            )
            self.stats.failed += 1
            return
        self.firmware = chunks[0].get("version", self.firmware) if chunks else self.firmware
        await self.feedback(feedback, action_id, "closed", "success", ["installed"])
        self.stats.succeeded += 1

    async def download(self, artifact: dict[str, Any]) -> str | None:
        links = artifact["_links"]
        href = (links.get("download") or links["download-http"])["href"]
        sha256, md5 = hashlib.sha256(), hashlib.md5()  # noqa: S324 - DDI's own checksum
        size = 0
        async with self.client.stream("GET", self._path(href), headers=self.headers) as r:
            if r.status_code != 200:
                return f"download failed with HTTP {r.status_code}"
            async for block in r.aiter_bytes():
                sha256.update(block)
                md5.update(block)
                size += len(block)
        self.stats.downloads += 1
        self.stats.bytes_downloaded += size
        hashes = artifact["hashes"]
        if size != artifact["size"]:
            return f"size mismatch: {size} != {artifact['size']}"
        if sha256.hexdigest() != hashes["sha256"] or md5.hexdigest() != hashes["md5"]:
            return "checksum mismatch"
        return None

    async def stream_running_test(self, stop: asyncio.Event) -> None:
        r = await self.client.get("/api/v1/device-api/tests/current", headers=self.headers)
        if r.status_code != 200 or r.json().get("test_id") is None:
            return
        test_id = r.json()["test_id"]
        began = time.monotonic()
        while not stop.is_set():
            count = int(SAMPLE_HZ * BATCH_SECONDS)
            now_ms = int(time.time() * 1000)
            start = max(now_ms - count * 1000 // SAMPLE_HZ, self._last_t + 1)
            samples: list[dict[str, Any]] = []
            for i in range(count):
                t = start + i * 1000 // SAMPLE_HZ
                elapsed = time.monotonic() - began + i / SAMPLE_HZ
                samples.append({"t": t, **pressure_sample(elapsed, self.rng)})
            self._last_t = samples[-1]["t"]
            r = await self.client.post(
                "/api/v1/device-api/telemetry",
                headers=self.headers,
                json={"samples": samples, "test_id": test_id},
            )
            if r.status_code != 200:
                return
            self.stats.samples += len(samples)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(BATCH_SECONDS):
                    await stop.wait()


async def run(
    server: str,
    devices: list[SimDevice],
    *,
    tenant: str = "DEFAULT",
    fail_rate: float = 0.0,
    duration: float | None = None,
    poll_interval: float | None = None,
    telemetry: bool = True,
    stop: asyncio.Event | None = None,
    report: Callable[[SimStats], None] | None = None,
    seed: int | None = None,
) -> SimStats:
    """Run the simulated fleet until ``duration`` passes or ``stop`` is set."""
    stats = SimStats(devices=len(devices))
    stop = stop or asyncio.Event()
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    limits = httpx.Limits(max_connections=min(500, max(10, len(devices))))
    async with httpx.AsyncClient(base_url=server, timeout=30, limits=limits) as client:
        runners = [
            DeviceRunner(
                client,
                d,
                stats,
                tenant=tenant,
                fail_rate=fail_rate,
                poll_interval=poll_interval,
                telemetry=telemetry,
                rng=random.Random(rng.random()),  # noqa: S311
            )
            for d in devices
        ]
        tasks = [asyncio.create_task(r.run(stop)) for r in runners]
        deadline = time.monotonic() + duration if duration else None
        try:
            while not stop.is_set():
                if deadline and time.monotonic() >= deadline:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await stop.wait()
                if report:
                    report(stats)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
    return stats


def terminal_report(stats: SimStats) -> None:
    """Print the live one-line summary (rewritten in place on a terminal)."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + stats.line())
    else:
        sys.stderr.write(stats.line() + "\n")
    sys.stderr.flush()
