"""Benchmark test execution: criteria evaluation, the PDF protocol and the report list.

1. Every automatic step of the yearly mask test with 60 s of pressure at 50 Hz (3 000 samples)
   is evaluated from a stored ``pressure_data`` block, as the API does (target: < 10 ms each).
2. The one-page PDF of that test, samples and chart included (target: < 300 ms).
3. The report list (page of 50 plus the bounded count) over 1 000 000 reports on PostgreSQL,
   unfiltered and with each filter (target: < 50 ms median). The reports are seeded with
   ``INSERT ... SELECT generate_series`` into a database of their own, which is reset first.

    .venv/bin/python bench/runs_bench.py --pg postgresql://postgres@127.0.0.1:5432/fleet_h7_bench
    .venv/bin/python bench/runs_bench.py --reports 100000   # a quicker look
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fleet import migrate
from fleet.db import create_engine as create_async_engine
from fleet.db import create_sessionmaker
from fleet.runs import bench, pdf, reports
from fleet.runs.criteria import evaluate
from fleet.runs.samples import step_samples
from fleet.scenarios import flow as flowlib
from fleet.scenarios.demo import YEARLY
from fleet.settings import Settings, sync_database_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from tests.support import empty_postgres

RATE_HZ = 50.0


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        out.append((time.perf_counter() - began) * 1000)
    return out


def _row(label: str, times: list[float], target: float) -> bool:
    med = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    ok = med < target
    print(
        f"  {label:<46} median {med:8.2f} ms   p95 {p95:8.2f} ms   "
        f"target < {target:g} ms  {'OK' if ok else 'SLOW'}"
    )
    return ok


class _Report:
    """Just what the evaluation and PDF code read from a report row."""

    def __init__(self, results: dict[str, Any], pressure: dict[str, Any]) -> None:
        self.results, self.pressure_data = results, pressure


def _yearly_run() -> tuple[list[dict[str, Any]], _Report]:
    steps = flowlib.steps_of(flowlib.normalise(YEARLY))
    blocks: dict[str, Any] = {}
    for step in steps:
        if not step["auto_test"]:
            continue
        # 60 s of samples at 50 Hz for every automatic step, whatever its own duration
        step = {**step, "parameters": {**step["parameters"], "duration_s": 60}}
        crit = step["criteria"]
        if crit["type"] == "target_tolerance":
            crit = {**crit, "within_s": 60}
            step["criteria"] = crit
        samples = bench.generate(step, steps, "good", RATE_HZ, seed=step["step_order"])[:3000]
        while len(samples) < 3000:  # hold steps are exactly hold_s long; pad to 60 s
            last = samples[-1]
            samples.append({**last, "t": round(last["t"] + 1 / RATE_HZ, 4)})
        blocks[str(step["step_order"])] = {
            "source": "bench",
            "t": [s["t"] for s in samples],
            **{sig: [s[sig] for s in samples] for sig in flowlib.SIGNALS},
        }
    results: dict[str, Any] = {
        "scenario": {
            "id": 1,
            "name": "Yearly full-face mask test",
            "kind_of_test": "yearly",
            "interval_months": 12,
        },
        "steps": [],
        "verdict": "passed",
        "next_due_at": "2027-11-27T12:00:00+00:00",
    }
    report = _Report(results, {"units": flowlib.SIGNAL_UNITS, "steps": blocks})
    for step in steps:
        state = {
            "step_order": step["step_order"],
            "step_name": step["step_name"],
            "criteria": step["criteria"],
            "result": "passed",
            "evaluation": None,
        }
        if step["auto_test"]:
            state["evaluation"] = evaluate(
                step["criteria"],
                step_samples(report, step["step_order"]),  # type: ignore[arg-type]
            ).as_dict()
        results["steps"].append(state)
    return steps, report


def bench_evaluation(repeat: int) -> bool:
    print("criteria evaluation, 60 s at 50 Hz (3 000 samples) per step:")
    steps, report = _yearly_run()
    ok = True
    for step in steps:
        if not step["auto_test"]:
            continue
        order = step["step_order"]

        def run(step: dict[str, Any] = step, order: int = order) -> None:
            samples = step_samples(report, order)  # type: ignore[arg-type]
            result = evaluate(step["criteria"], samples)
            assert result.result in ("passed", "warning"), result

        label = f"step {order} {step['criteria']['type']}"
        ok &= _row(label, _timed(run, repeat), 10)
    return ok


def bench_pdf(repeat: int) -> bool:
    print("PDF protocol (7 steps, 15 000 samples, chart):")
    _steps, report = _yearly_run()
    now = datetime.now(UTC)
    info = {
        "report": {
            "id": 123456,
            "status": "completed",
            "start_time": now - timedelta(minutes=9),
            "end_time": now,
            "results": report.results,
            "pressure_data": report.pressure_data,
        },
        "customer": "City Fire Brigade",
        "device": "FFM-1001 (mask_tester, s/n SN-1)",
        "operator": "operator1",
        "sha256": "ab" * 32,
        "next_due_at": now + timedelta(days=365),
        "printed_at": now,
    }
    size = len(pdf.render(info))
    print(f"  ({size / 1024:.0f} KiB)")
    return _row("render", _timed(lambda: pdf.render(info), repeat), 300)


def _seed_reports(url: str, count: int) -> None:
    empty_postgres(url)
    migrate.upgrade(Settings(env="test", database_url=url))
    engine = create_engine(sync_database_url(url))
    began = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, password_hash, role, roles, is_active) "
                "SELECT 'op' || i, 'x', 'operator', '[\"operator\"]', true "
                "FROM generate_series(1, 50) i"
            )
        )
        conn.execute(
            text(
                "INSERT INTO customers (name) "
                "SELECT 'Customer ' || i FROM generate_series(1, 200) i"
            )
        )
        conn.execute(
            text(
                "INSERT INTO devices (device_number, device_type, kind_of_device, customer_id) "
                "SELECT 'FFM-' || i, 'mask_tester', 'full_face_mask', 1 + i % 200 "
                "FROM generate_series(1, 20000) i"
            )
        )
        conn.execute(
            text(
                "INSERT INTO test_scenarios (name, device_type, test_flow) "
                "SELECT 'Scenario ' || i, 'mask_tester', '{\"steps\": []}' "
                "FROM generate_series(1, 10) i"
            )
        )
        conn.execute(
            text(
                "INSERT INTO test_reports (test_scenario_id, device_id, operator_id, customer_id, "
                "start_time, end_time, status, results) "
                "SELECT 1 + i % 10, 1 + (i::bigint * 7919) % 20000, 1 + i % 50, 1 + i % 200, "
                "  now() - (i || ' minutes')::interval, "
                "  now() - (i || ' minutes')::interval + interval '9 minutes', "
                "  CASE WHEN i % 20 = 0 THEN 'failed' WHEN i % 97 = 0 THEN 'aborted' "
                "       ELSE 'completed' END, "
                "  jsonb_build_object('verdict', CASE WHEN i % 20 = 0 THEN 'failed' "
                "       WHEN i % 7 = 0 THEN 'warning' ELSE 'passed' END, "
                "    'scenario', jsonb_build_object('name', 'Scenario ' || (1 + i % 10)), "
                "    'device', jsonb_build_object("
                "       'device_number', 'FFM-' || (1 + (i::bigint * 7919) % 20000)))"
                " FROM generate_series(1, :count) i"
            ),
            {"count": count},
        )

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does on a live database
    engine.dispose()
    print(f"  seeded {count:,} reports in {time.perf_counter() - began:.1f} s")


async def _bench_list(url: str, repeat: int) -> bool:
    engine = create_async_engine(Settings(env="test", database_url=url))
    factory = create_sessionmaker(engine)
    now = datetime.now(UTC)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("no filter (count capped at 1 000)", {}),
        ("operator_id", {"operator_id": 7}),
        ("device_id", {"device_id": 4242}),
        ("customer_id", {"customer_id": 42}),
        ("scenario_id", {"scenario_id": 3}),
        ("status=failed", {"status": "failed"}),
        (
            "from/to (one day)",
            {"since": now - timedelta(days=30), "until": now - timedelta(days=29)},
        ),
        (
            "operator_id + status + from",
            {"operator_id": 7, "status": "completed", "since": now - timedelta(days=365)},
        ),
        ("page 100 (skip 4 950) operator_id", {"operator_id": 7, "_skip": 4950}),
    ]
    ok = True
    async with factory() as session:
        for label, filters in cases:
            skip = filters.pop("_skip", 0)
            stmt = reports.query_reports(**filters)
            await reports.list_page(session, stmt, skip, 50)  # warm the cache
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                items, _total, _capped = await reports.list_page(session, stmt, skip, 50)
                times.append((time.perf_counter() - began) * 1000)
            assert items, label
            ok &= _row(label, times, 50)
    await engine.dispose()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/fleet_h7_bench",
        help="PostgreSQL database for the report list (reset!)",
    )
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--skip-list", action="store_true", help="no PostgreSQL part")
    parser.add_argument("--no-seed", action="store_true", help="reuse the reports seeded before")
    args = parser.parse_args()
    ok = bench_evaluation(args.repeat)
    ok &= bench_pdf(max(5, args.repeat // 3))
    if not args.skip_list:
        database = make_url(sync_database_url(args.pg)).database
        print(f"report list over {args.reports:,} reports on PostgreSQL ({database}):")
        if not args.no_seed:
            _seed_reports(args.pg, args.reports)
        ok &= asyncio.run(_bench_list(args.pg, args.repeat))
    print("all targets met" if ok else "SOME TARGETS MISSED")


if __name__ == "__main__":
    main()
