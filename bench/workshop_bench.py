"""Fleet Workshop Manager benchmark on PostgreSQL: 100 000 items, 1 000 customers, 1 000 000 test
reports (with their workshop outcomes and two recorded steps each), the documented rule set.

Seeds the data itself (the database is emptied first; test reports and outcomes are generated in
the database), computes the due dates of every item with the real engine (timed), then measures
in-process through the ASGI app (one manager token, no network):
- the due list (``/workshop/due``, all customers and one customer, 50 rows and X-Total-Count),
- statistics (``/workshop/statistics``) by device type, kind of device, customer, step and part
  over the default period (the last 365 days, about a fifth of the reports),
each requested many times; target: median under 100 ms.

Run by hand (never part of the test suite):

    .venv/bin/python bench/workshop_bench.py [--url postgresql://postgres@127.0.0.1:5432/fleet_workshop_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from fleet import migrate
from fleet.app import create_app
from fleet.auth.security import hash_password_sync
from fleet.models import Device, WorkshopDue, WorkshopIntervalRule
from fleet.settings import Settings, sync_database_url
from fleet.workshop import records
from fleet.workshop.rules import rule_set_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from tests.support import fresh_postgres

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/fleet_workshop_bench"
DEVICES = 100_000
CUSTOMERS = 1_000
REPORTS = 1_000_000
KINDS = ["full_face_mask", "lung_demand_valve", "scba_set", "composite_cylinder", "cps_suit"]
SECRET = "bench-secret-key-that-is-long-enough-for-hs256"  # noqa: S105 - throwaway bench db
PASSWORD = "bench-password"  # noqa: S105 - throwaway bench db
ROUNDS = 40


SEED_SQL = [
    # customers with a contact e-mail
    f"""INSERT INTO customers (name, contact_info, created_at)
        SELECT 'Customer ' || i, jsonb_build_object('email', 'c' || i || '@bench.example'), now()
        FROM generate_series(1, {CUSTOMERS}) i""",  # noqa: S608 - the script's constants
    # items of five kinds, registered over ten years
    f"""INSERT INTO devices (device_number, device_type, kind_of_device, serial_number, status,
                             customer_id, created_at, updated_at)
        SELECT 'W-' || lpad(i::text, 6, '0'), 'mask_tester',
               (ARRAY{KINDS!r})[1 + i % {len(KINDS)}], 'SN' || i,
               CASE WHEN i % 50 = 0 THEN 'decommissioned' ELSE 'active' END,
               1 + i % {CUSTOMERS}, now() - (i % 3650) * interval '1 day', now()
        FROM generate_series(1, {DEVICES}) i""",  # noqa: S608 - the script's constants
    """INSERT INTO workshop_items (device_id, manufactured_on, updated_at)
        SELECT id, created_at - interval '60 days', now() FROM devices""",
    # one million finished tests over five years, 7 % failed
    f"""INSERT INTO test_reports (device_id, customer_id, start_time, end_time, status, results)
        SELECT 1 + i % {DEVICES}, 1 + (1 + i % {DEVICES}) % {CUSTOMERS},
               now() - (i % 1825) * interval '1 day' - (i % 86400) * interval '1 second',
               now() - (i % 1825) * interval '1 day' - (i % 86400) * interval '1 second'
                     + interval '7 minutes',
               CASE WHEN i % 14 = 0 THEN 'failed' ELSE 'completed' END,
               jsonb_build_object('verdict', CASE WHEN i % 14 = 0 THEN 'failed' ELSE 'passed' END)
        FROM generate_series(1, {REPORTS}) i""",  # noqa: S608 - the script's constants
    # the workshop's outcome of each, with the gap to the item's previous failure
    """INSERT INTO workshop_test_outcomes (report_id, device_id, customer_id, device_type,
                                           kind_of_device, kind_of_test, tested_at, failed,
                                           gap_days)
        SELECT r.id, r.device_id, r.customer_id, d.device_type, d.kind_of_device,
               CASE WHEN r.id % 3 = 0 THEN 'after_use' ELSE 'yearly' END, r.end_time,
               r.status = 'failed',
               CASE WHEN r.status = 'failed' THEN extract(epoch FROM r.end_time - lag(r.end_time)
                    OVER (PARTITION BY r.device_id, r.status ORDER BY r.end_time)) / 86400 END
        FROM test_reports r JOIN devices d ON d.id = r.device_id""",
    """INSERT INTO workshop_step_outcomes (report_id, step_name, tested_at, failed)
        SELECT o.report_id, s.name, o.tested_at, o.failed AND s.name = 'Leak test'
        FROM workshop_test_outcomes o
        CROSS JOIN (VALUES ('Visual inspection'), ('Leak test')) AS s(name)""",
    # the daily and monthly statistics totals the finish hook keeps, for the same tests
    """INSERT INTO workshop_stat_days (dimension, span, key, day, tests, failures, gap_sum,
                                       gap_count)
        SELECT dim, span, key, bucket, count(*), sum(failed::int), coalesce(sum(gap_days), 0),
               count(gap_days)
        FROM (SELECT o.*, (o.tested_at AT TIME ZONE 'UTC')::date AS day FROM
              workshop_test_outcomes o) o
        CROSS JOIN LATERAL (VALUES ('device_type', o.device_type),
                                   ('kind_of_device', coalesce(o.kind_of_device, '')),
                                   ('customer', coalesce(o.customer_id::text, ''))) AS k(dim, key)
        CROSS JOIN LATERAL (VALUES ('d', o.day), ('m', date_trunc('month', o.day)::date))
                           AS s(span, bucket)
        GROUP BY dim, span, key, bucket""",
    """INSERT INTO workshop_stat_days (dimension, span, key, day, tests, failures, gap_sum,
                                       gap_count)
        SELECT 'step', span, step_name, bucket, count(*), sum(failed::int), 0, 0
        FROM (SELECT step_name, failed, (tested_at AT TIME ZONE 'UTC')::date AS day
              FROM workshop_step_outcomes) o
        CROSS JOIN LATERAL (VALUES ('d', o.day), ('m', date_trunc('month', o.day)::date))
                           AS s(span, bucket)
        GROUP BY 2, 3, 4""",
    # parts and their use on repair orders
    """INSERT INTO workshop_parts (part_number, name, fits, low_stock_threshold, is_active,
                                   created_at)
        SELECT 'P-' || i, 'Part ' || i, '[]'::jsonb, 5, true, now()
        FROM generate_series(1, 50) i""",
    """INSERT INTO workshop_stock_lots (part_id, lot_number, quantity, created_at)
        SELECT id, 'L1', 1000, now() FROM workshop_parts""",
    """INSERT INTO workshop_repair_orders (device_id, state, origin, failed_steps, created_at,
                                           finished_at, updated_at)
        SELECT 1 + (i * 7) % 100000, 'done', 'manual', '[]'::jsonb,
               now() - (i % 700) * interval '1 day', now() - (i % 700) * interval '1 day', now()
        FROM generate_series(1, 20000) i""",
    """INSERT INTO workshop_part_usages (order_id, part_id, lot_id, quantity, fitted_at)
        SELECT o.id, 1 + o.id % 50, 1 + o.id % 50, 1 + o.id % 3, o.finished_at
        FROM workshop_repair_orders o""",
]


def seed(url: str) -> int:
    engine = create_engine(sync_database_url(url))
    with engine.begin() as conn:
        user = conn.scalar(
            text(
                "INSERT INTO users (username, email, password_hash, role, roles, is_active) "
                "VALUES ('bench', 'bench@example.com', :h, 'manager', '[\"manager\"]', true) "
                "RETURNING id"
            ),
            {"h": hash_password_sync(PASSWORD, 4)},
        )
        for sql in SEED_SQL:
            started = time.perf_counter()
            conn.execute(text(sql))
            print(f"  seeded in {time.perf_counter() - started:6.1f} s: {sql.split()[2]}")
    with Session(engine) as session:
        session.add_all(WorkshopIntervalRule(**row) for row in rule_set_rows())
        session.commit()
        started = time.perf_counter()
        ids = list(session.scalars(select(Device.id)))
        records.run_plan_sync(session, records.refresh_plan(ids))
        session.commit()
        took = time.perf_counter() - started
        rows = session.scalar(select(func.count()).select_from(WorkshopDue))
        print(f"  engine: due dates of {len(ids)} items ({rows} rows) in {took:.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return int(user or 0)


async def measure(url: str) -> dict[str, tuple[float, float]]:
    settings = Settings(
        env="test",
        database_url=url,
        secret_key=SECRET,
        bcrypt_rounds=4,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    results: dict[str, tuple[float, float]] = {}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        r = await client.post(
            "/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        cases: list[tuple[str, str, dict[str, Any]]] = [
            ("due, all customers, 30 days", "/api/v1/workshop/due", {"within_days": 30}),
            ("due, one customer, 90 days", "/api/v1/workshop/due",
             {"within_days": 90, "customer_id": 17}),
        ] + [
            (f"statistics by {g}", "/api/v1/workshop/statistics", {"group_by": g})
            for g in ("device_type", "kind_of_device", "customer", "step", "part")
        ]
        for name, path, params in cases:
            times = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                r = await client.get(path, headers=headers, params=params)
                times.append((time.perf_counter() - started) * 1000)
                assert r.status_code == 200, r.text
            total = r.headers.get("X-Total-Count") or r.json().get("tests")
            med = statistics.median(times)
            p95 = sorted(times)[int(len(times) * 0.95) - 1]
            results[name] = (med, p95)
            flag = "ok" if med < 100 else "OVER 100 ms"
            print(f"  {name:32s} median {med:7.1f} ms  p95 {p95:7.1f} ms  ({total})  {flag}")
    await app.state.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--reuse", action="store_true", help="measure an already seeded database")
    args = parser.parse_args()
    if not args.reuse:
        print(f"seeding {DEVICES} items, {REPORTS} test reports into {args.url}")
        fresh_postgres(args.url)
        migrate.upgrade(Settings(env="test", database_url=args.url))
        seed(args.url)
    print(f"measuring ({ROUNDS} requests each, in-process ASGI):")
    asyncio.run(measure(args.url))


if __name__ == "__main__":
    main()
