"""Fleet Data Manager benchmark on PostgreSQL: 100 000 devices, 1 000 customers.

Seeds the data itself (the database is emptied first), serves the app with ``fleet serve`` and
measures through HTTP:
- a filtered device page (50 rows with customer name and due dates) and the dashboard:
  median / p95 latency over many requests (target: median under 20 ms);
- SQL statements per request (in-process, counted on the engine): must not grow with the page;
- a streamed export of all devices (CSV and JSON): the server's resident memory is sampled
  while it streams, and must stay flat.

Run by hand (never part of the test suite):

    .venv/bin/python bench/fleet_data_bench.py [--url postgresql://postgres@127.0.0.1:5432/fleet_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from fleet import migrate
from fleet.auth.security import hash_password_sync
from fleet.settings import Settings, sync_database_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from tests.support import clean_env, fresh_postgres, rss_kib, start_server

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/fleet_h3_bench"
DEVICES = 100_000
CUSTOMERS = 1_000
REPORTS = 30_000
TYPES = ["mask_tester", "pressure_sensor", "flow_meter", "temperature_sensor", "humidity_sensor"]
STATUSES = ["active"] * 14 + ["maintenance"] * 3 + ["inactive"] * 2 + ["decommissioned"]
SECRET = "bench-secret-key-that-is-long-enough-for-hs256"  # noqa: S105 - throwaway bench db
PASSWORD = "bench-password"  # noqa: S105 - throwaway bench db


def _returned(cur: Any) -> Any:
    """The value an ``INSERT ... RETURNING id`` answered."""
    row = cur.fetchone()
    assert row is not None
    return row[0]


def seed(url: str) -> None:
    """Bulk-load users, customers, devices, due dates and test reports with COPY."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    engine = create_engine(sync_database_url(url))
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            "INSERT INTO users (username, email, password_hash, role, roles, is_active) "
            "VALUES (%s, %s, %s, 'manager', '[\"manager\"]', true) RETURNING id",
            ("bench", "bench@example.com", hash_password_sync(PASSWORD, 4)),
        )
        user_id = _returned(cur)
        cur.execute(
            "INSERT INTO test_scenarios (name, device_type, test_flow, is_active) "
            "VALUES ('Yearly mask test', 'mask_tester', '{\"steps\": []}', true) RETURNING id"
        )
        scenario_id = _returned(cur)
        with cur.copy("COPY customers (name, contact_info, created_at) FROM STDIN") as copy:
            for i in range(1, CUSTOMERS + 1):
                contact = {"email": f"c{i}@example.com", "company": f"Company {i}"}
                copy.write_row((f"Customer {i:04}", json.dumps(contact), now))
        cols = (
            "device_number, device_type, kind_of_device, serial_number, status, customer_id, "
            "configuration, created_at, updated_at"
        )
        with cur.copy(f"COPY devices ({cols}) FROM STDIN") as copy:
            for i in range(1, DEVICES + 1):
                customer = rng.randint(1, CUSTOMERS) if rng.random() > 0.05 else None
                config = {"port": f"COM{i % 8}", "max_pressure": rng.randint(50, 150)}
                copy.write_row(
                    (
                        f"DEV-{i:06}",
                        rng.choice(TYPES),
                        rng.choice(["bench", "portable", None]),
                        f"SN{rng.randint(0, 10**9):09}",
                        rng.choice(STATUSES),
                        customer,
                        json.dumps(config),
                        now,
                        now,
                    )
                )
        with cur.copy(
            "COPY test_reports (test_scenario_id, device_id, operator_id, start_time, end_time, "
            "status, results) FROM STDIN"
        ) as copy:
            for _ in range(REPORTS):
                verdict = rng.choices(["passed", "warning", "failed"], [85, 10, 5])[0]
                at = now - timedelta(days=rng.uniform(0, 365))
                copy.write_row(
                    (
                        scenario_id,
                        rng.randint(1, DEVICES),
                        user_id,
                        at,
                        at + timedelta(minutes=6),
                        "failed" if verdict == "failed" else "completed",
                        json.dumps({"verdict": verdict, "steps": []}),
                    )
                )
        with cur.copy(
            "COPY device_due_dates (device_id, last_test_at, next_due_at, interval_months) "
            "FROM STDIN"
        ) as copy:
            for device_id in range(1, DEVICES + 1):
                if rng.random() < 0.3:
                    continue  # never tested
                last = now - timedelta(days=rng.uniform(0, 420))
                copy.write_row((device_id, last, last + timedelta(days=365), 12))
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def timed_round_robin(
    client: httpx.Client, cases: dict[str, tuple[str, dict[str, Any]]], n: int
) -> dict[str, dict[str, float]]:
    """Time every case ``n`` times, interleaved, so a busy machine weighs on all cases alike."""
    for path, params in cases.values():
        for _ in range(5):
            client.get(path, params=params).raise_for_status()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    totals: dict[str, int] = {}
    for _ in range(n):
        for name, (path, params) in cases.items():
            start = time.perf_counter()
            r = client.get(path, params=params)
            samples[name].append((time.perf_counter() - start) * 1000)
            r.raise_for_status()
            totals[name] = int(r.headers.get("X-Total-Count", -1))
    out = {}
    for name, values in samples.items():
        values.sort()
        out[name] = {
            "median_ms": round(statistics.median(values), 2),
            "p95_ms": round(values[int(len(values) * 0.95) - 1], 2),
            "total": totals[name],
        }
    return out


def export_memory(client: httpx.Client, pid: int, fmt: str) -> dict[str, Any]:
    before = rss_kib(pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    size = 0
    start = time.perf_counter()
    with client.stream(
        "GET", "/api/v1/fleet-data/export", params={"entity": "devices", "format": fmt}, timeout=300
    ) as r:
        r.raise_for_status()
        for chunk in r.iter_bytes():
            size += len(chunk)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return {
        "format": fmt,
        "bytes": size,
        "seconds": round(seconds, 2),
        "rss_before_mib": round(before / 1024, 1),
        "rss_peak_mib": round(peak / 1024, 1),
        "rss_growth_mib": round((peak - before) / 1024, 1),
    }


async def statement_counts(url: str, token: str, customer_id: int) -> dict[str, int]:
    """Count SQL statements per request in-process (the same app, the same database)."""
    from fleet.app import create_app

    settings = Settings(env="test", database_url=url, secret_key=SECRET, data_dir=Path("."))
    app = create_app(settings)
    statements: list[str] = []
    event.listen(
        app.state.engine.sync_engine,
        "before_cursor_execute",
        lambda *args: statements.append(args[2]),
    )
    counts = {}
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", headers=headers
    ) as c:
        cases: dict[str, tuple[str, dict[str, Any]]] = {
            "devices limit=1": ("/api/v1/fleet-data/devices", {"limit": 1}),
            "devices limit=50 filtered": (
                "/api/v1/fleet-data/devices",
                {"limit": 50, "device_type": "mask_tester", "status": "active"},
            ),
            "devices limit=500 overdue": (
                "/api/v1/fleet-data/devices",
                {"limit": 500, "overdue": "true", "sort": "next_due_at"},
            ),
            "devices limit=50 customer": (
                "/api/v1/fleet-data/devices",
                {"limit": 50, "customer_id": customer_id},
            ),
            "dashboard fresh": ("/api/v1/fleet-data/dashboard", {"fresh": "true"}),
            "history": ("/api/v1/fleet-data/devices/1/history", {}),
            "customers limit=500": ("/api/v1/fleet-data/customers", {"limit": 500}),
        }
        for name, (path, params) in cases.items():
            statements.clear()
            (await c.get(path, params=params)).raise_for_status()
            counts[name] = len(statements)
    await app.state.engine.dispose()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("FLEET_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-seed", action="store_true", help="reuse the seeded database")
    args = parser.parse_args()
    if not make_url(args.url).drivername.startswith("postgresql"):
        sys.exit("the benchmark needs PostgreSQL")

    if not args.no_seed:
        started = time.perf_counter()
        fresh_postgres(args.url)
        migrate.upgrade(Settings(env="test", database_url=args.url, data_dir=Path(".")))
        seed(args.url)
        print(
            f"seeded {DEVICES} devices, {CUSTOMERS} customers, {REPORTS} test reports "
            f"in {time.perf_counter() - started:.1f} s"
        )

    data_dir = tempfile.mkdtemp(prefix="fleet-bench-")
    env = clean_env(
        FLEET_DATABASE_URL=args.url,
        FLEET_SECRET_KEY=SECRET,
        FLEET_DATA_DIR=data_dir,
        FLEET_ENV="development",
    )
    served = start_server(env, None, timeout=60)
    server, base = served.proc, served.base
    try:
        token = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            customer_id = client.get(
                "/api/v1/fleet-data/customers", params={"q": "Customer 0500"}
            ).json()[0]["id"]
            api = "/api/v1/fleet-data"
            cases: dict[str, tuple[str, dict[str, Any]]] = {
                "baseline: GET /auth/me (token check only)": ("/api/v1/auth/me", {}),
                "device page: type+status filter, 50 rows": (
                    f"{api}/devices",
                    {"device_type": "mask_tester", "status": "active", "limit": 50},
                ),
                "device page: type+status filter, page 100": (
                    f"{api}/devices",
                    {"device_type": "mask_tester", "status": "active", "limit": 50, "skip": 5000},
                ),
                "device page: customer filter": (
                    f"{api}/devices",
                    {"customer_id": customer_id, "limit": 50},
                ),
                "device page: overdue, by due date": (
                    f"{api}/devices",
                    {"overdue": "true", "sort": "next_due_at", "limit": 50},
                ),
                "device page: due_before + status": (
                    f"{api}/devices",
                    {
                        "due_before": (datetime.now(UTC) + timedelta(days=30)).date().isoformat(),
                        "status": "active",
                        "limit": 50,
                    },
                ),
                "device page: q search (substring)": (
                    f"{api}/devices",
                    {"q": "DEV-0999", "limit": 50},
                ),
                "device page: unfiltered, sort by customer": (
                    f"{api}/devices",
                    {"sort": "customer_name", "limit": 50},
                ),
                "dashboard (recent answer reused)": (f"{api}/dashboard", {}),
                "dashboard fresh=true (recomputed)": (f"{api}/dashboard", {"fresh": "true"}),
                "device history": (f"{api}/devices/1/history", {}),
            }
            print(f"load average before timing: {os.getloadavg()}")
            results = timed_round_robin(client, cases, args.requests)
            for name, figures in results.items():
                print(f"{name:45} {figures}")
            print(f"load average after timing: {os.getloadavg()}")
            counts = asyncio.run(statement_counts(args.url, token, customer_id))
            print("SQL statements per request (incl. 1 for the token check):")
            for name, n in counts.items():
                print(f"  {name:30} {n}")
            for fmt in ("csv", "json"):
                print("export", export_memory(client, server.pid, fmt))
    finally:
        served.stop()


if __name__ == "__main__":
    main()
