"""Soak test: a busy workshop's load on a real ``fleet serve`` (PostgreSQL, several workers), a
worker killed with ``kill -9`` and the whole server restarted during it, then every write the
clients were told was stored is looked up in the database.

The mix (sizes and duration are options): simulated testers polling DDI and taking a roll-out
of a new firmware (download, feedback); devices posting telemetry every second; operators
running tests in a loop on some of those devices, submitting samples with each step while the
device's telemetry feeds the same running test; readers browsing reports and live tests.
Clients retry as real ones do: on a refused, reset or closed connection, or a 5xx, they send
again (a write whose answer was lost may then be refused as already done: it counts as not
acknowledged, and stored writes beyond the acknowledged ones are fine).

Printed: per minute the requests, error rate and worker memory; p50/p99 latency per kind of
client; the table of acknowledged versus stored per kind of write (telemetry samples, step
samples and telemetry in test traces, installations, tests with a verifying seal, audit rows).
Exits 1 when any acknowledged write is missing. Run by hand (never part of the test suite;
``tests/test_soak.py`` runs a short one):

    .venv/bin/python bench/soak.py [--url postgresql://postgres@127.0.0.1:5432/fleet_soak]
        [--minutes 8] [--testers 300] [--telemetry-devices 20] [--operators 4] [--readers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from fleet import migrate
from fleet.auth.security import hash_password_sync
from fleet.cli import db_session
from fleet.devices_api import simulator
from fleet.models import (
    Device,
    RolloutTarget,
    SoftwareInstallation,
    SystemLog,
    TelemetrySample,
    TestReport,
    TestReportSeal,
    TestScenario,
    User,
)
from fleet.runs.reports import fingerprint
from fleet.settings import Settings, sync_database_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from tests.support import base_env, empty_postgres, free_port, start_server

PASSWORD = "soak-pass"  # noqa: S105 - the soak's own throwaway users
TENANT = "DEFAULT"
STEPS = 5
KINDS = ("tester", "telemetry", "operator", "reader")


@dataclass
class Options:
    url: str = "postgresql://postgres@127.0.0.1:5432/fleet_soak"
    minutes: float = 8.0
    testers: int = 300
    telemetry_devices: int = 20
    operators: int = 4
    readers: int = 16
    workers: int = 2
    poll_seconds: int = 10
    batch: int = 25  # telemetry samples per device and second
    step_samples: int = 40
    group_size: int = 50
    kill_at: float = 0.5  # fraction of the duration
    restart_at: float = 0.75
    seed: int = 1
    quiet: bool = False


@dataclass
class Ledger:
    """What the clients were told was stored."""

    telemetry: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    step_marks: dict[int, set[float]] = field(default_factory=lambda: defaultdict(set))
    trace_marks: dict[int, set[float]] = field(default_factory=lambda: defaultdict(set))
    tests: set[int] = field(default_factory=set)
    installations: dict[int, int] = field(default_factory=dict)  # installation -> device
    audit: set[tuple[Any, ...]] = field(default_factory=set)


@dataclass
class Stats:
    began: float = field(default_factory=time.monotonic)
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    minute: dict[int, dict[str, int]] = field(
        default_factory=lambda: defaultdict(
            lambda: {"requests": 0, "attempts": 0, "down": 0, "cut": 0, "5xx": 0, "refused": 0}
        )
    )
    memory: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    events: list[str] = field(default_factory=list)
    causes: Counter[str] = field(default_factory=Counter)  # failed attempts by exception

    def now_minute(self) -> int:
        return int((time.monotonic() - self.began) // 60)


class Server:
    """``fleet serve --workers N`` as a child process: started, a worker killed, restarted."""

    def __init__(self, url: str, data: Path, workers: int, poll_seconds: int) -> None:
        self.url, self.data, self.workers = url, data, workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = base_env(url, data, FLEET_DDI_POLLING_SECONDS=str(poll_seconds))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--workers", str(self.workers)]
        log = self.data / "server.log"
        self.proc = start_server(self.env, log, args, port=self.port, timeout=120).proc
        deadline = time.monotonic() + 120
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        pids = []
        for pid in map(int, children.split()):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmdline:
                pids.append(pid)
        return pids

    def worker_rss_kb(self) -> list[int]:
        sizes = []
        for pid in self.worker_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]))
            except OSError:
                continue
        return sizes

    def kill_worker(self) -> int | None:
        pids = self.worker_pids()
        if not pids:
            return None
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


class Client:
    """Requests of one kind of client, retried as a real client retries, timed and counted."""

    def __init__(self, kind: str, base: str, stats: Stats, stop: asyncio.Event) -> None:
        self.kind, self.stats, self.stop = kind, stats, stop
        self.http = httpx.AsyncClient(
            base_url=base,
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """Send until answered without a 5xx, backing off (None when it never was).

        Failed attempts are counted by cause: ``down`` (connection refused: no server
        listening), ``cut`` (connection reset or closed mid-request), ``5xx``."""
        deadline = time.monotonic() + 120
        self.stats.minute[self.stats.now_minute()]["requests"] += 1
        pause = 0.1
        while True:
            minute = self.stats.minute[self.stats.now_minute()]
            minute["attempts"] += 1
            started = time.perf_counter()
            try:
                r = await self.http.request(method, path, **kwargs)
            except httpx.ConnectError:
                r, cause = None, "down"
            except httpx.TransportError as exc:
                r, cause = None, "cut"
                self.stats.causes[f"{self.kind} {method}: {type(exc).__name__}"] += 1
            else:
                cause = "5xx"
            if r is not None and r.status_code < 500:
                self.stats.latency[self.kind].append(time.perf_counter() - started)
                if r.status_code >= 400:
                    minute["refused"] += 1
                return r
            minute[cause] += 1
            if time.monotonic() > deadline:
                return r
            await asyncio.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 2.0)

    async def close(self) -> None:
        await self.http.aclose()


async def _login(client: Client, username: str) -> dict[str, str]:
    r = await client.call(
        "POST", "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert r is not None and r.status_code == 200, r.text if r is not None else "no answer"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def tester(
    client: Client, device: simulator.SimDevice, opts: Options, ledger: Ledger, ids: dict[str, int]
) -> None:
    """Polls DDI; takes the roll-out: downloads the artifact and reports success."""
    rng = random.Random(device.controller_id)
    headers = {"Authorization": f"TargetToken {device.token}"}
    base = f"/{TENANT}/controller/v1/{device.controller_id}"
    await asyncio.sleep(rng.uniform(0, opts.poll_seconds))
    while not client.stop.is_set():
        r = await client.call("GET", base, headers=headers)
        links = r.json().get("_links", {}) if r is not None and r.status_code == 200 else {}
        if "deploymentBase" in links:
            path = httpx.URL(links["deploymentBase"]["href"]).raw_path.decode()
            dep = await client.call("GET", path, headers=headers)
            if dep is not None and dep.status_code == 200:
                action = dep.json()["id"]
                feedback = path.split("?", 1)[0] + "/feedback"
                for chunk in dep.json()["deployment"]["chunks"]:
                    for artifact in chunk.get("artifacts", []):
                        href = artifact["_links"]["download-http"]["href"]
                        await client.call("GET", httpx.URL(href).raw_path.decode(), headers=headers)
                body = {
                    "id": action,
                    "status": {
                        "execution": "closed",
                        "result": {"finished": "success"},
                        "details": ["installed"],
                    },
                }
                done = await client.call("POST", feedback, headers=headers, json=body)
                if done is not None and done.status_code == 200:
                    ledger.installations[int(action)] = ids[device.controller_id]
        try:
            await asyncio.wait_for(client.stop.wait(), opts.poll_seconds * rng.uniform(0.8, 1.2))
        except TimeoutError:
            pass


async def telemetry_device(
    client: Client,
    device: simulator.SimDevice,
    device_id: int,
    opts: Options,
    ledger: Ledger,
    running: dict[int, int],
    marks: itertools.count[int],
) -> None:
    """Posts a batch every second; feeds the test running on it, if any."""
    headers = {"Authorization": f"TargetToken {device.token}"}
    last = 0
    step_ms = max(1, 1000 // opts.batch)
    while not client.stop.is_set():
        now = int(time.time() * 1000)
        first = max(now - (opts.batch - 1) * step_ms, last + 1)
        times = [first + i * step_ms for i in range(opts.batch)]
        last = times[-1]
        flows = [float(next(marks)) for _ in times]
        body: dict[str, Any] = {
            "samples": [
                {"t": t, "pressure_low": -14.0, "pressure_high": 6.0, "flow": f}
                for t, f in zip(times, flows, strict=True)
            ]
        }
        test_id = running.get(device_id)
        if test_id is not None:
            body["test_id"] = test_id
        r = await client.call("POST", "/api/v1/device-api/telemetry", headers=headers, json=body)
        if r is not None and r.status_code == 409 and test_id is not None:
            # The test ended meanwhile: the device sends the batch again as plain telemetry.
            running.pop(device_id, None)
            body.pop("test_id")
            r = await client.call(
                "POST", "/api/v1/device-api/telemetry", headers=headers, json=body
            )
        if r is not None and r.status_code == 200:
            ledger.telemetry[device_id].extend(times)
            if r.json().get("appended_to_test"):
                ledger.trace_marks[int(r.json()["test_id"])].update(flows)
        try:
            await asyncio.wait_for(client.stop.wait(), 1.0)
        except TimeoutError:
            pass


async def operator(
    client: Client,
    username: str,
    device_id: int,
    scenario_id: int,
    opts: Options,
    ledger: Ledger,
    running: dict[int, int],
    marks: itertools.count[int],
) -> None:
    """Runs tests on one device in a loop: start, steps with samples, complete."""
    headers = await _login(client, username)
    rng = random.Random(username)
    while not client.stop.is_set():
        r = await client.call(
            "POST",
            "/api/v1/tests/start",
            headers=headers,
            json={"scenario_id": scenario_id, "device_id": device_id},
        )
        if r is None or r.status_code != 201:
            # A start whose answer was lost: find the test it opened and end it.
            await _abort_running(client, headers, device_id)
            continue
        test_id = int(r.json()["id"])
        ledger.audit.add(("test.start", test_id))
        running[device_id] = test_id
        order = 1
        while order <= STEPS and not client.stop.is_set():
            await asyncio.sleep(rng.uniform(0.8, 1.6))  # the device's telemetry flows in
            now = datetime.now(UTC)
            flows = [float(next(marks)) for _ in range(opts.step_samples)]
            samples = [
                {
                    "t": (now - timedelta(milliseconds=5 * (opts.step_samples - i))).isoformat(),
                    "pressure_low": -14.0,
                    "flow": f,
                }
                for i, f in enumerate(flows)
            ]
            r = await client.call(
                "POST",
                f"/api/v1/tests/{test_id}/steps/{order}",
                headers=headers,
                json={"result": "passed", "samples": samples},
            )
            if r is not None and r.status_code == 200:
                ledger.step_marks[test_id].update(flows)
                ledger.audit.add(("test.step", test_id, order))
                order += 1
                continue
            # Refused (samples older than the telemetry that came first) or a lost answer:
            # carry on from the step the test waits for.
            state = await client.call("GET", f"/api/v1/tests/{test_id}", headers=headers)
            if state is None or state.status_code != 200:
                break
            current = state.json().get("current_step")
            if state.json().get("status") != "in_progress" or current is None:
                break
            order = int(current)
        running.pop(device_id, None)
        if client.stop.is_set():
            await _abort_running(client, headers, device_id)
            break
        r = await client.call("POST", f"/api/v1/tests/{test_id}/complete", headers=headers)
        if r is not None and r.status_code == 200:
            ledger.tests.add(test_id)
            ledger.audit.add(("test.complete", test_id))
        else:
            await _abort_running(client, headers, device_id)


async def _abort_running(client: Client, headers: dict[str, str], device_id: int) -> None:
    r = await client.call(
        "GET",
        "/api/v1/reports",
        headers=headers,
        params={"device_id": device_id, "status": "in_progress", "limit": 5},
    )
    for row in r.json() if r is not None and r.status_code == 200 else []:
        await client.call(
            "POST", f"/api/v1/tests/{row['id']}/abort", headers=headers, json={"reason": "soak"}
        )


async def reader(client: Client, username: str) -> None:
    """Browses the report list, a report, and a live test."""
    headers = await _login(client, username)
    rng = random.Random(username)
    while not client.stop.is_set():
        r = await client.call("GET", "/api/v1/reports", headers=headers, params={"limit": 20})
        rows = r.json() if r is not None and r.status_code == 200 else []
        if rows:
            pick = rng.choice(rows)
            kind = "tests" if pick.get("status") == "in_progress" else "reports"
            await client.call("GET", f"/api/v1/{kind}/{pick['id']}", headers=headers)
        try:
            await asyncio.wait_for(client.stop.wait(), rng.uniform(0.5, 1.5))
        except TimeoutError:
            pass


def _setup(settings: Settings, opts: Options) -> dict[str, Any]:
    with db_session(settings) as session:
        testers = simulator.provision(session, opts.testers, "SOAK-T")
        streamers = simulator.provision(session, opts.telemetry_devices, "SOAK-D")
        users = [("soak-maker", "maker", ["maker", "superuser", "operator"])]
        users += [(f"soak-op{i}", "operator", ["operator"]) for i in range(opts.operators)]
        users += [(f"soak-reader{i}", "manager", ["manager"]) for i in range(opts.readers)]
        hashed = hash_password_sync(PASSWORD, 4)
        for name, role, roles in users:
            session.add(
                User(username=name, role=role, roles=roles, is_active=True, password_hash=hashed)
            )
        session.add(
            TestScenario(
                name="Soak",
                device_type="mask_tester",
                is_active=True,
                test_flow={
                    "kind_of_test": "yearly",
                    "steps": [
                        {
                            "step_order": n,
                            "step_name": f"Measure {n}",
                            "action": "measure",
                            "auto_test": True,
                            "operator_participation": True,
                            "parameters": {},
                            "criteria": {"type": "boolean"},
                        }
                        for n in range(1, STEPS + 1)
                    ],
                },
            )
        )
        session.flush()
        ids = {
            d.device_number: d.id
            for d in session.scalars(select(Device).where(Device.device_number.like("SOAK-%")))
        }
        scenario = session.scalar(select(TestScenario.id).where(TestScenario.name == "Soak"))
    return {"testers": testers, "streamers": streamers, "ids": ids, "scenario": scenario}


async def _start_rollout(client: Client, device_ids: list[int], opts: Options) -> int:
    headers = await _login(client, "soak-maker")
    api = "/api/v1/fleet-software"
    r = await client.call(
        "POST",
        f"{api}/software",
        headers=headers,
        json={"name": "Tester FW", "category": "firmware"},
    )
    assert r is not None and r.status_code == 201, r.text if r else None
    sw = r.json()["id"]
    r = await client.call(
        "POST", f"{api}/software/{sw}/versions", headers=headers, json={"version_number": "2.0.0"}
    )
    assert r is not None and r.status_code == 201, r.text if r else None
    version = r.json()["id"]
    image = os.urandom(64 * 1024)
    r = await client.call(
        "POST",
        f"{api}/versions/{version}/artifact",
        headers=headers,
        files={"file": ("image.swu", image, "application/octet-stream")},
    )
    assert r is not None and r.status_code == 200, r.text if r else None
    r = await client.call(
        "POST",
        f"{api}/rollouts",
        headers=headers,
        json={
            "version_id": version,
            "device_ids": device_ids,
            "group_size": opts.group_size,
            "success_threshold": 90,
            "error_threshold": 50,
        },
    )
    assert r is not None and r.status_code == 201, r.text if r else None
    rid = int(r.json()["id"])
    r = await client.call("POST", f"{api}/rollouts/{rid}/start", headers=headers)
    assert r is not None and r.status_code == 200, r.text if r else None
    return rid


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def verify(settings: Settings, ledger: Ledger, rollout: int) -> list[tuple[str, int, int, int]]:
    """Answer (kind, acknowledged, stored of those, missing) per kind of write."""
    rows: list[tuple[str, int, int, int]] = []
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    with Session(engine) as session:
        acked = stored = 0
        for device_id, times in ledger.telemetry.items():
            have = {
                round(t.timestamp() * 1000)
                for t in session.scalars(
                    select(TelemetrySample.t).where(TelemetrySample.device_id == device_id)
                )
            }
            acked += len(times)
            stored += sum(1 for t in times if t in have)
        rows.append(("telemetry samples", acked, stored, acked - stored))

        traces: dict[int, set[float]] = {}
        report: TestReport | None
        for report in session.scalars(select(TestReport)):
            found: set[float] = set()
            for block in ((report.pressure_data or {}).get("steps") or {}).values():
                found.update(m for m in block.get("flow") or [] if m is not None)
            traces[report.id] = found
        for kind, marks in (
            ("step samples (in traces)", ledger.step_marks),
            ("telemetry in test traces", ledger.trace_marks),
        ):
            acked = sum(len(m) for m in marks.values())
            stored = sum(len(m & traces.get(tid, set())) for tid, m in marks.items())
            rows.append((kind, acked, stored, acked - stored))

        installed = {
            i.id
            for i in session.scalars(
                select(SoftwareInstallation).where(SoftwareInstallation.status == "completed")
            )
        }
        acked_inst = set(ledger.installations)
        rows.append(
            (
                "installations",
                len(acked_inst),
                len(acked_inst & installed),
                len(acked_inst - installed),
            )
        )

        sealed = 0
        for test_id in ledger.tests:
            report = session.get(TestReport, test_id)
            seal = session.get(TestReportSeal, test_id)
            if (
                report is not None
                and seal is not None
                and report.status == "completed"
                and fingerprint(report) == seal.sha256
            ):
                sealed += 1
        rows.append(
            ("tests (sealed, verifying)", len(ledger.tests), sealed, len(ledger.tests) - sealed)
        )

        found_audit: set[tuple[Any, ...]] = set()
        for log in session.scalars(
            select(SystemLog).where(
                SystemLog.action.in_(
                    (
                        "test.start",
                        "test.step",
                        "test.complete",
                        "software.installation.create",
                        "software.installation.status",
                    )
                )
            )
        ):
            d = log.details or {}
            if log.action == "test.step":
                found_audit.add(("test.step", d.get("id"), d.get("step_order")))
            elif log.action == "software.installation.status":
                if (d.get("changes") or {}).get("status", {}).get("new") == "completed":
                    found_audit.add(("installation.completed", d.get("id")))
            elif log.action == "software.installation.create":
                found_audit.add(("installation.create", d.get("id")))
            else:
                found_audit.add((log.action, d.get("id")))
        expected = set(ledger.audit)
        for iid in ledger.installations:
            expected.add(("installation.completed", iid))
        created = session.scalars(
            select(RolloutTarget.installation_id).where(
                RolloutTarget.rollout_id == rollout, RolloutTarget.installation_id.is_not(None)
            )
        ).all()
        expected.update(("installation.create", iid) for iid in created)
        rows.append(
            ("audit rows", len(expected), len(expected & found_audit), len(expected - found_audit))
        )
    engine.dispose()
    return rows


async def soak(opts: Options) -> tuple[list[tuple[str, int, int, int]], Stats]:
    """Run the soak; answer the table of writes and the statistics."""
    empty_postgres(opts.url)
    data = Path(tempfile.mkdtemp(prefix="fleet-soak-"))
    settings = Settings(env="development", data_dir=data, database_url=opts.url)
    migrate.upgrade(settings)
    fleet = _setup(settings, opts)
    server = Server(opts.url, data, opts.workers, opts.poll_seconds)
    server.start()
    stats = Stats()
    ledger = Ledger()
    stop = asyncio.Event()
    clients = {kind: Client(kind, server.base, stats, stop) for kind in (*KINDS, "maker")}
    say = (lambda _m: None) if opts.quiet else (lambda m: print(m, flush=True))
    ids: dict[str, int] = fleet["ids"]
    try:
        rollout = await _start_rollout(
            clients["maker"], [ids[d.controller_id] for d in fleet["testers"]], opts
        )
        say(
            f"server {server.base}: {opts.workers} workers, PostgreSQL; {opts.testers} testers, "
            f"{opts.telemetry_devices} telemetry devices, {opts.operators} operators, "
            f"{opts.readers} readers; roll-out {rollout} started; {opts.minutes:g} minutes"
        )
        marks = itertools.count(1)
        running: dict[int, int] = {}
        streamer_ids = [ids[d.controller_id] for d in fleet["streamers"]]
        tasks = [
            *(tester(clients["tester"], d, opts, ledger, ids) for d in fleet["testers"]),
            *(
                telemetry_device(clients["telemetry"], d, i, opts, ledger, running, marks)
                for d, i in zip(fleet["streamers"], streamer_ids, strict=True)
            ),
            *(
                operator(
                    clients["operator"],
                    f"soak-op{n}",
                    streamer_ids[n % len(streamer_ids)],
                    fleet["scenario"],
                    opts,
                    ledger,
                    running,
                    marks,
                )
                for n in range(opts.operators)
            ),
            *(reader(clients["reader"], f"soak-reader{n}") for n in range(opts.readers)),
        ]
        load = asyncio.gather(*tasks)
        duration = opts.minutes * 60
        killed = restarted = False
        began = time.monotonic()
        loop = asyncio.get_running_loop()
        printed: set[int] = set()
        while time.monotonic() - began < duration:
            await asyncio.sleep(1.0)
            elapsed = time.monotonic() - began
            stats.memory[stats.now_minute()].append(sum(server.worker_rss_kb()))
            if not killed and elapsed >= duration * opts.kill_at:
                killed = True
                pid = server.kill_worker()
                stats.events.append(f"{elapsed:.0f} s: kill -9 worker {pid}")
                say(stats.events[-1])
            if not restarted and elapsed >= duration * opts.restart_at:
                restarted = True
                t0 = time.monotonic()
                await loop.run_in_executor(None, server.restart)
                stats.events.append(
                    f"{elapsed:.0f} s: server restarted (SIGTERM, start, healthy in "
                    f"{time.monotonic() - t0:.1f} s)"
                )
                say(stats.events[-1])
            for minute in range(stats.now_minute()):
                if minute not in printed:
                    printed.add(minute)
                    _print_minute(say, stats, minute)
        stop.set()
        await load
        for minute in sorted(set(stats.minute) - printed):
            _print_minute(say, stats, minute)
    finally:
        stop.set()
        for c in clients.values():
            await c.close()
        server.stop()
    for kind in KINDS:
        values = stats.latency[kind]
        say(
            f"{kind:10s} requests {len(values):7d}  p50 {_pct(values, 0.5) * 1000:7.1f} ms  "
            f"p99 {_pct(values, 0.99) * 1000:7.1f} ms"
        )
    if stats.causes:
        say(
            "failed attempts cut mid-request: "
            + ", ".join(f"{k} x{n}" for k, n in stats.causes.most_common())
        )
    table = verify(settings, ledger, rollout)
    say(f"\n{'write':28s} {'acknowledged':>12s} {'stored':>10s} {'missing':>8s}")
    for kind, acked, stored, missing in table:
        say(f"{kind:28s} {acked:12d} {stored:10d} {missing:8d}")
    return table, stats


def _print_minute(say: Any, stats: Stats, minute: int) -> None:
    m = stats.minute.get(minute)
    if not m:
        return
    failed = m["down"] + m["cut"] + m["5xx"]
    rate = failed / m["attempts"] * 100 if m["attempts"] else 0.0
    memory = stats.memory.get(minute) or [0]
    say(
        f"minute {minute + 1}: requests {m['requests']}, attempts {m['attempts']}, failed "
        f"{failed} ({rate:.2f} %: refused connection {m['down']}, cut mid-request {m['cut']}, "
        f"5xx {m['5xx']}); 4xx {m['refused']}; workers' memory {min(memory) / 1024:.0f}-"
        f"{max(memory) / 1024:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = Options()
    for name, value in vars(defaults).items():
        if name == "quiet":
            continue
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    opts = Options(**vars(args))
    table, _stats = asyncio.run(soak(opts))
    missing = sum(row[3] for row in table)
    if missing:
        print(f"\nFAILED: {missing} acknowledged writes are missing")
        sys.exit(1)
    print("\nno acknowledged write is missing")


if __name__ == "__main__":
    main()
