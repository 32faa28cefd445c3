"""Fleet Software Manager benchmark.

1. A roll-out of one version to 10 000 devices in groups of 500 against a real ``fleet serve``
   process, devices reporting concurrently, which advances the groups. ``--report ddi`` (the
   default): each device reports through the device API as a hawkBit DDI client does, with its
   own token — ``closed``/``success`` feedback, which the state machine takes as
   ``pending -> in_progress -> completed`` in one transaction; ``--proceeding`` makes each
   device send a ``proceeding`` feedback first. ``--report patch``: a maker moves every
   installation with two ``PATCH /installations/{id}`` requests. The server process's own CPU
   time (from /proc, so neither the client nor PostgreSQL nor other processes count) is
   divided by the devices: target under 5 ms per device. Wall time and request latency are
   printed too, and SQL statements per request are counted in-process. On PostgreSQL the
   transactions the database committed during the roll-out are counted as well: reports that
   arrive together are committed together, so they show how much the group commit saves.
2. The catalog listing: SQL statements of ``GET /software`` with 10 and with 1 000 packages
   (target: one round trip, whatever the size).
3. A 200 MB artifact uploaded and downloaded through a real ``fleet serve`` process while its
   resident memory is sampled: it must stay flat (constant memory).

Run by hand (never part of the test suite); SQLite by default, or PostgreSQL with --url:

    .venv/bin/python bench/software_bench.py [--url postgresql://postgres@127.0.0.1:5432/fleet_h4_bench]
        [--report ddi|patch] [--proceeding]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, event, insert, text

from fleet import migrate
from fleet.app import create_app
from fleet.auth.security import hash_password_sync
from fleet.devices_api.credentials import TOKEN_PREFIX, digest
from fleet.models import Device, DeviceToken, Software, User
from fleet.settings import Settings, sync_database_url
from fleet.software import installations

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from tests.support import free_port, fresh_postgres, rss_kib, sql_statements

API = "/api/v1/fleet-software"
SECRET = "bench-secret-key-that-is-long-enough-for-hs256"  # noqa: S105 - throwaway bench db
PASSWORD = "bench-password"  # noqa: S105 - throwaway bench db


def prepare_database(url: str | None, workdir: Path) -> Settings:
    if url:
        fresh_postgres(url)
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"
    settings = Settings(
        env="test",
        data_dir=workdir / "data",
        database_url=url,
        secret_key=SECRET,
        bcrypt_rounds=4,
        max_upload_mb=512,
    )
    migrate.upgrade(settings)
    return settings


def seed(settings: Settings, devices: int) -> None:
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    with engine.begin() as conn:
        conn.execute(
            insert(User),
            [
                {
                    "username": "bench_maker",
                    "role": "maker",
                    "roles": ["maker"],
                    "password_hash": hash_password_sync(PASSWORD, 4),
                    "is_active": True,
                }
            ],
        )
        conn.execute(
            insert(Device),
            [
                {
                    "device_number": f"MT-{i:06d}",
                    "device_type": "mask_tester",
                    "kind_of_device": "bench",
                    "status": "active",
                }
                for i in range(devices)
            ],
        )
        ids = conn.execute(text("SELECT id, device_number FROM devices")).all()
        conn.execute(
            insert(DeviceToken),
            [
                {
                    "device_id": did,
                    "token_hash": digest(device_token(number)),
                    "prefix": "fdt_bench",
                }
                for did, number in ids
            ],
        )
    engine.dispose()


def device_token(device_number: str) -> str:
    """The bench's (throwaway) device token of a device."""
    return f"{TOKEN_PREFIX}bench-{device_number}"


def add_catalog_rows(settings: Settings, n: int, start: int) -> None:
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    with engine.begin() as conn:
        conn.execute(
            insert(Software),
            [
                {"name": f"Package {i:05d}", "category": "tool", "is_active": True}
                for i in range(start, start + n)
            ],
        )
    engine.dispose()


async def login(client: httpx.AsyncClient) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/login", json={"username": "bench_maker", "password": PASSWORD}
    )
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def catalog_statements(client: httpx.AsyncClient, app: Any, headers: dict[str, str]) -> int:
    with sql_statements(app.state.engine) as statements:
        r = await client.get(f"{API}/software", params={"limit": 500}, headers=headers)
        r.raise_for_status()
    return sum(1 for s in statements if "software" in s)


async def inprocess_part(settings: Settings, sample: int) -> tuple[int, int]:
    """Catalog statements, and on a ``sample``-device roll-out: statements per PATCH and the
    time spent in the module's own code (state machine + roll-out engine, with their SQL).
    Answers the software and version ids for the big roll-out."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        headers = await login(client)
        r = await client.post(
            f"{API}/software",
            json={"name": "Tester firmware", "category": "firmware"},
            headers=headers,
        )
        sw = r.json()
        vids = []
        for number in ("1.0.0", "2.0.0"):
            r = await client.post(
                f"{API}/software/{sw['id']}/versions",
                json={"version_number": number, "compatibility": {"device_types": ["mask_tester"]}},
                headers=headers,
            )
            vids.append(r.json()["id"])
            r = await client.post(
                f"{API}/versions/{vids[-1]}/artifact",
                files={"file": ("fw.swu", f"image {number}".encode(), "application/octet-stream")},
                headers=headers,
            )
            r.raise_for_status()

        add_catalog_rows(settings, 9, 0)
        small = await catalog_statements(client, app, headers)
        add_catalog_rows(settings, 990, 9)
        large = await catalog_statements(client, app, headers)
        print(
            f"catalog listing: {small} SQL statement(s) with 10 packages, "
            f"{large} with 1000 packages (limit 500)"
        )

        r = await client.post(
            f"{API}/rollouts",
            json={
                "version_id": vids[0],
                "device_ids": list(range(1, sample + 1)),
                "group_size": max(1, sample // 10),
            },
            headers=headers,
        )
        rid = r.json()["id"]
        (await client.post(f"{API}/rollouts/{rid}/start", headers=headers)).raise_for_status()
        statements = 0

        def count(*_a: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(app.state.engine.sync_engine, "before_cursor_execute", count)
        per_status: dict[str, list[int]] = defaultdict(list)
        service_seconds = 0.0
        original = installations.transition

        async def timed(*args: Any, **kwargs: Any) -> Any:
            nonlocal service_seconds
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                service_seconds += time.perf_counter() - start

        installations.transition = timed
        while True:
            r = await client.get(
                f"{API}/installations",
                params={"rollout_id": rid, "status": "pending"},
                headers=headers,
            )
            pending = [i["id"] for i in r.json()]
            if not pending:
                break
            for iid in pending:
                for status in ("in_progress", "completed"):
                    before = statements
                    r = await client.patch(
                        f"{API}/installations/{iid}", json={"status": status}, headers=headers
                    )
                    r.raise_for_status()
                    per_status[status].append(statements - before)
        event.remove(app.state.engine.sync_engine, "before_cursor_execute", count)
        installations.transition = original
        print(
            f"wall time inside the state machine ({sample}-device roll-out, in-process): "
            f"transition() + roll-out engine incl. their SQL round trips = "
            f"{service_seconds * 1000 / sample:.2f} ms per device "
            f"(2 transitions each, group starts included)"
        )
        for status, counts in per_status.items():
            print(
                f"SQL statements per PATCH to {status}: {min(counts)}..{max(counts)} "
                f"(average {sum(counts) / len(counts):.1f}; includes auth and the answer)"
            )
        await ddi_statements(client, app, headers, vids[0], sample)
    await app.state.engine.dispose()
    return sw["id"], vids[1]


def machine_speed() -> str:
    """A fixed pure-Python workload, so figures of runs on a busier or slower machine compare."""
    best = min(timeit.repeat("sum(i * i for i in range(1_000_000))", number=1, repeat=5))
    return f"machine speed: sum of 10^6 squares in {best * 1000:.0f} ms (best of 5)"


async def ddi_statements(
    client: httpx.AsyncClient, app: Any, headers: dict[str, str], version_id: int, sample: int
) -> None:
    """SQL statements of one DDI ``closed`` feedback, on a roll-out of the next devices."""
    r = await client.post(
        f"{API}/rollouts",
        json={
            "version_id": version_id,
            "device_ids": list(range(sample + 1, 2 * sample + 1)),
            "group_size": max(1, sample // 10),
        },
        headers=headers,
    )
    rid = r.json()["id"]
    (await client.post(f"{API}/rollouts/{rid}/start", headers=headers)).raise_for_status()
    counts: list[int] = []
    current = 0

    def count(*_a: Any) -> None:
        nonlocal current
        current += 1

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", count)
    try:
        while True:
            r = await client.get(
                f"{API}/installations",
                params={"rollout_id": rid, "status": "pending"},
                headers=headers,
            )
            if not r.json():
                break
            for item in r.json():
                number = item["device_number"]
                current = 0
                r = await client.post(
                    f"/DEFAULT/controller/v1/{number}/deploymentBase/{item['id']}/feedback",
                    json={"status": {"execution": "closed", "result": {"finished": "success"}}},
                    headers={"Authorization": f"TargetToken {device_token(number)}"},
                )
                r.raise_for_status()
                counts.append(current)
    finally:
        event.remove(app.state.engine.sync_engine, "before_cursor_execute", count)
    counts.sort()
    print(
        f"SQL statements per DDI 'closed' feedback: median {counts[len(counts) // 2]}, "
        f"{counts[0]}..{counts[-1]} (the largest start the next group)"
    )


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


async def rollout_part(
    client: httpx.AsyncClient,
    pid: int,
    version_id: int,
    group_size: int,
    workers: int,
    mode: str,
    proceeding: bool,
    commits: Callable[[], int] | None,
) -> None:
    """The big roll-out against the running server, devices reporting concurrently;
    ``commits`` answers the transactions committed since the roll-out began (PostgreSQL)."""
    headers = await login(client)
    user0, sys0 = cpu_split(pid)
    wall = time.perf_counter()
    r = await client.post(
        f"{API}/rollouts",
        json={
            "version_id": version_id,
            "filter": {"device_type": "mask_tester"},
            "group_size": group_size,
            "success_threshold": 90,
            "error_threshold": 10,
        },
        headers=headers,
    )
    r.raise_for_status()
    rid = r.json()["id"]
    devices = r.json()["total_devices"]
    print(f"roll-out {rid}: {devices} devices, {len(r.json()['groups'])} groups of {group_size}")
    (await client.post(f"{API}/rollouts/{rid}/start", headers=headers)).raise_for_status()
    latencies: list[float] = []
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(method: str, url: str, body: dict[str, Any], auth: dict[str, str]) -> None:
        t = time.perf_counter()
        r = await client.request(method, url, json=body, headers=auth)
        latencies.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise SystemExit(f"{method} {url} failed: {r.status_code} {r.text}")

    async def report(item: dict[str, Any]) -> None:
        if mode == "patch":
            for status in ("in_progress", "completed"):
                url = f"{API}/installations/{item['id']}"
                await send("PATCH", url, {"status": status}, headers)
            return
        number = item["device_number"]
        auth = {"Authorization": f"TargetToken {device_token(number)}"}
        url = f"/DEFAULT/controller/v1/{number}/deploymentBase/{item['id']}/feedback"
        if proceeding:
            body = {"status": {"execution": "proceeding", "result": {"finished": "none"}}}
            await send("POST", url, {"id": str(item["id"]), **body}, auth)
        body = {"status": {"execution": "closed", "result": {"finished": "success"}}}
        await send("POST", url, {"id": str(item["id"]), **body}, auth)

    async def device_worker() -> None:
        while True:
            item = await queue.get()
            try:
                await report(item)
            finally:
                queue.task_done()

    tasks = [asyncio.create_task(device_worker()) for _ in range(workers)]
    polls = 0
    while True:
        r = await client.get(
            f"{API}/installations",
            params={"rollout_id": rid, "status": "pending", "limit": 500},
            headers=headers,
        )
        polls += 1
        pending = r.json()
        if not pending:
            break
        for item in pending:
            queue.put_nowait(item)
        await queue.join()
    for task in tasks:
        task.cancel()
    wall = time.perf_counter() - wall
    user1, sys1 = cpu_split(pid)
    cpu = user1 - user0 + sys1 - sys0
    ro = (await client.get(f"{API}/rollouts/{rid}", headers=headers)).json()
    statuses = {g["status"] for g in ro["groups"]}
    print(
        f"roll-out {ro['status']}: {ro['completed']} of {ro['total_devices']} completed, "
        f"group statuses {sorted(statuses)}, {polls} polls of the pending list"
    )
    latencies.sort()
    per_device = cpu * 1000 / devices
    feedback = "proceeding + closed" if proceeding else "closed"
    how = "2 maker PATCHes" if mode == "patch" else f"DDI feedback {feedback}"
    print(
        f"server process CPU: {cpu:.1f} s = {per_device:.2f} ms per device "
        f"(create, start, group advances, {how} per device; target < 5 ms); "
        f"user {(user1 - user0) * 1000 / devices:.2f} ms + "
        f"system {(sys1 - sys0) * 1000 / devices:.2f} ms"
    )
    if commits is not None:
        print(f"database transactions committed: {commits() / devices:.2f} per device")
    print(
        f"wall time: {wall:.1f} s = {wall * 1000 / devices:.2f} ms per device with {workers} "
        f"devices reporting at once; request latency median "
        f"{latencies[len(latencies) // 2] * 1000:.1f} ms, p95 "
        f"{latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms"
    )


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def start_server(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "FLEET_DATABASE_URL": settings.resolved_database_url(),
        "FLEET_DATA_DIR": str(settings.data_dir),
        "FLEET_SECRET_KEY": SECRET,
        "FLEET_ENV": "test",
        "FLEET_MAX_UPLOAD_MB": "512",
    }
    fleet = Path(sys.executable).parent / "fleet"
    proc = subprocess.Popen(
        [str(fleet), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


def commit_counter(settings: Settings) -> Callable[[], int]:
    """Count the transactions the database committed from now on (its own statistics)."""
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    query = text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")

    def read() -> int:
        time.sleep(1.5)  # the server's connections publish their counts within a second
        with engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    start = read()
    return lambda: read() - start


async def server_part(
    settings: Settings,
    proc: subprocess.Popen[bytes],
    base: str,
    version_id: int,
    group_size: int,
    workers: int,
    megabytes: int,
    mode: str,
    proceeding: bool,
) -> None:
    limits = httpx.Limits(max_connections=workers + 2)
    async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as client:
        for _ in range(300):
            try:
                if (await client.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        await baseline_part(client, proc.pid, workers)
        postgres = sync_database_url(settings.resolved_database_url()).drivername != "sqlite"
        commits = commit_counter(settings) if postgres else None
        await rollout_part(
            client, proc.pid, version_id, group_size, workers, mode, proceeding, commits
        )
        if megabytes:
            await artifact_part(client, proc.pid, megabytes)


async def baseline_part(client: httpx.AsyncClient, pid: int, workers: int) -> None:
    """What any request costs here before its own work: server CPU of ``GET /health`` (HTTP,
    routing, one ``SELECT 1``) and of ``GET /auth/me`` (plus the token and login check)."""
    headers = await login(client)
    n = 800

    async def many(url: str, count: int, auth: dict[str, str]) -> None:
        for _ in range(count):
            (await client.get(url, headers=auth)).raise_for_status()

    figures = []
    for url, auth in (("/health", {}), ("/api/v1/auth/me", headers)):
        await many(url, 50, auth)
        cpu0 = cpu_seconds(pid)
        await asyncio.gather(*(many(url, n // workers, auth) for _ in range(workers)))
        figures.append(f"GET {url} {(cpu_seconds(pid) - cpu0) * 1000 / n:.2f} ms")
    print(f"floor per request (server CPU): {', '.join(figures)}")


async def artifact_part(client: httpx.AsyncClient, pid: int, megabytes: int) -> None:
    """Upload and download a big artifact while sampling the server's memory."""
    headers = await login(client)
    r = await client.post(
        f"{API}/software",
        json={"name": "Big image", "category": "firmware"},
        headers=headers,
    )
    sw = r.json()
    r = await client.post(
        f"{API}/software/{sw['id']}/versions",
        json={"version_number": "1.0.0"},
        headers=headers,
    )
    vid = r.json()["id"]
    chunk = os.urandom(1024 * 1024)
    expected = hashlib.sha256()
    for _ in range(megabytes):
        expected.update(chunk)
    digest = expected.hexdigest()
    boundary = "benchboundary7a1c"

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n'
            f'{digest}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.img"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        for _ in range(megabytes):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    baseline = rss_kib(pid)
    sampler = Sampler(pid)
    sampler.start()
    start = time.perf_counter()
    r = await client.post(
        f"{API}/versions/{vid}/artifact",
        content=body(),
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    upload_s = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    r.raise_for_status()
    assert r.json()["checksum"] == digest
    upload_peak = sampler.peak

    sampler = Sampler(pid)
    sampler.start()
    start = time.perf_counter()
    got = hashlib.sha256()
    size = 0
    async with client.stream("GET", f"{API}/versions/{vid}/artifact", headers=headers) as resp:
        resp.raise_for_status()
        header = resp.headers["X-Checksum-SHA256"]
        async for part in resp.aiter_bytes(1024 * 1024):
            got.update(part)
            size += len(part)
    download_s = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    assert got.hexdigest() == digest == header and size == megabytes * 1024 * 1024
    print(
        f"artifact {megabytes} MB: upload {upload_s:.1f} s "
        f"({megabytes / upload_s:.0f} MB/s), download {download_s:.1f} s "
        f"({megabytes / download_s:.0f} MB/s), SHA-256 verified end to end"
    )
    print(
        f"server RSS: {baseline / 1024:.0f} MB before, peak {upload_peak / 1024:.0f} MB "
        f"during upload (+{(upload_peak - baseline) / 1024:.0f} MB), peak "
        f"{sampler.peak / 1024:.0f} MB during download "
        f"(+{(sampler.peak - baseline) / 1024:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="PostgreSQL URL (emptied first); SQLite when absent")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--group-size", type=int, default=500)
    parser.add_argument("--artifact-mb", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8, help="devices reporting at once")
    parser.add_argument(
        "--report",
        choices=("ddi", "patch"),
        default="ddi",
        help="devices report through the DDI API, or a maker PATCHes each installation",
    )
    parser.add_argument(
        "--proceeding", action="store_true", help="DDI devices send 'proceeding' before 'closed'"
    )
    parser.add_argument(
        "--sample", type=int, default=1000, help="devices of the in-process roll-out"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleet-sw-bench-") as tmp:
        settings = prepare_database(args.url, Path(tmp))
        print(f"database: {'PostgreSQL' if args.url else 'SQLite'}; {machine_speed()}")
        seed(settings, args.devices)
        _software_id, version_id = asyncio.run(inprocess_part(settings, args.sample))
        proc, base = start_server(settings)
        try:
            asyncio.run(
                server_part(
                    settings,
                    proc,
                    base,
                    version_id,
                    args.group_size,
                    args.workers,
                    args.artifact_mb,
                    args.report,
                    args.proceeding,
                )
            )
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        print(f"after the run, {machine_speed()}")


if __name__ == "__main__":
    main()
