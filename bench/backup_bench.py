"""Benchmark the whole-database backup and restore (``fleet backup create|restore``).

Builds a database with N devices, M pressure samples (in test reports of 1 000 samples each)
and K audit rows, then times a dump and a restore into an empty database, each in its own
process so the peak memory (max RSS) of each direction is measured alone. Runs on SQLite and,
with --pg, on PostgreSQL, at each --scale, to show that memory stays flat as data grows.

    .venv/bin/python bench/backup_bench.py --pg postgresql://postgres@127.0.0.1:5432/fleet_bench
    .venv/bin/python bench/backup_bench.py --scales 0.01   # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert
from sqlalchemy.engine import make_url

from fleet import migrate
from fleet.config import dbdump
from fleet.db import install_sqlite_pragmas
from fleet.models import Customer, Device, SystemLog, TestReport
from fleet.settings import Settings, sync_database_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from tests.support import drop_database, recreate_database

DEVICES, SAMPLES, LOGS = 100_000, 1_000_000, 10_000
SAMPLES_PER_REPORT = 1000


def _engine(url: str) -> Any:
    engine = create_engine(sync_database_url(url))
    install_sqlite_pragmas(engine)
    return engine


def fresh(url: str, workdir: Path) -> None:
    """Make ``url`` an empty database migrated to the newest schema."""
    parsed = make_url(sync_database_url(url))
    if parsed.drivername.startswith("postgresql"):
        recreate_database(url)
    else:
        Path(parsed.database or "").unlink(missing_ok=True)
    migrate.upgrade(Settings(env="test", data_dir=workdir, database_url=url))


def fill(url: str, devices: int, samples: int, logs: int) -> int:
    """Insert the synthetic fleet; answers the number of rows."""
    engine = _engine(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(6)
    with engine.begin() as c:
        c.execute(
            insert(Customer),
            [
                {"id": i + 1, "name": f"Customer {i}", "contact_info": {"phone": f"+48 {i}"}}
                for i in range(100)
            ],
        )
        for lo in range(0, devices, 10_000):
            c.execute(
                insert(Device),
                [
                    {
                        "id": i + 1,
                        "device_number": f"MT-{i:07d}",
                        "device_type": "mask_tester",
                        "kind_of_device": "full_face_mask",
                        "serial_number": f"SN{i}",
                        "status": "active",
                        "customer_id": i % 100 + 1,
                        "configuration": {"target_pressure_mbar": -14, "rate_hz": 10},
                    }
                    for i in range(lo, min(devices, lo + 10_000))
                ],
            )
        reports = samples // SAMPLES_PER_REPORT
        for lo in range(0, reports, 100):
            c.execute(
                insert(TestReport),
                [
                    {
                        "id": r + 1,
                        "device_id": r % devices + 1,
                        "customer_id": r % 100 + 1,
                        "start_time": start + timedelta(minutes=r),
                        "status": "completed",
                        "results": {"verdict": "passed"},
                        "pressure_data": [
                            {"t": s * 100, "p": round(-14 + rng.gauss(0, 0.05), 3)}
                            for s in range(SAMPLES_PER_REPORT)
                        ],
                    }
                    for r in range(lo, min(reports, lo + 100))
                ],
            )
        c.execute(
            insert(SystemLog),
            [
                {
                    "id": i + 1,
                    "log_level": "INFO",
                    "action": "bench",
                    "details": {"i": i},
                    "timestamp": start,
                }
                for i in range(logs)
            ],
        )
    engine.dispose()
    return 100 + devices + samples // SAMPLES_PER_REPORT + logs


def _status_kb(field: str) -> int:
    """A memory figure of this process in KiB (VmHWM is its own peak since exec, unlike
    ru_maxrss, which inherits the parent's high-water mark across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(direction: str, url: str, file: str) -> None:
    """Run one direction in this process and print its figures as JSON."""
    engine = _engine(url)
    base = _status_kb("VmRSS")
    t0 = time.perf_counter()
    if direction == "dump":
        with open(file, "wb") as out:
            dbdump.dump(engine, out)
        with engine.connect() as c:
            rows = sum(dbdump.count_rows(c).values())
    else:
        with open(file, "rb") as inp:
            rows = dbdump.restore(engine, inp).rows
    seconds = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    engine.dispose()
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "peak_mb": peak / 1024,
                "start_mb": base / 1024,
                "file_mb": Path(file).stat().st_size / 2**20,
            }
        )
    )


def run_direction(direction: str, url: str, file: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", direction, "--url", url, "--file", str(file)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scales", default="0.1,1", help="fractions of the full size, e.g. 0.1,1")
    ap.add_argument(
        "--pg",
        default=None,
        help="PostgreSQL URL of a scratch database "
        "(dropped and recreated; a second one with suffix _restore too)",
    )
    ap.add_argument("--worker", choices=["dump", "restore"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.file)
        return
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    backends = [("sqlite", f"sqlite:///{work / 'src.db'}", f"sqlite:///{work / 'dst.db'}")]
    if args.pg:
        pg = make_url(args.pg)
        backends.append(
            (
                "postgresql",
                args.pg,
                pg.set(database=f"{pg.database}_restore").render_as_string(False),
            )
        )
    print(
        f"{'db':<11}{'scale':>6}{'rows':>10}{'file MB':>9}  {'direction':<8}"
        f"{'seconds':>9}{'rows/s':>10}{'peak MB':>9}{'start MB':>9}"
    )
    for scale in (float(s) for s in args.scales.split(",")):
        n_dev, n_smp, n_log = int(DEVICES * scale), int(SAMPLES * scale), int(LOGS * scale)
        for name, src, dst in backends:
            fresh(src, work)
            fill(src, n_dev, n_smp, n_log)
            file = work / f"{name}-{scale}.fleetdump.gz"
            fresh(dst, work)
            for direction, url in (("dump", src), ("restore", dst)):
                r = run_direction(direction, url, file)
                print(
                    f"{name:<11}{scale:>6}{r['rows']:>10}{r['file_mb']:>9.1f}  {direction:<8}"
                    f"{r['seconds']:>9.1f}{r['rows'] / r['seconds']:>10.0f}"
                    f"{r['peak_mb']:>9.0f}{r['start_mb']:>9.0f}",
                    flush=True,
                )
    for _name, src, dst in backends[1:]:
        for url in (src, dst):
            drop_database(url)
    shutil.rmtree(work, ignore_errors=True)
    print(
        f"(devices={DEVICES}, samples={SAMPLES} in reports of {SAMPLES_PER_REPORT}, "
        f"audit rows={LOGS} at scale 1; rows/s counts table rows, a report row carries "
        f"{SAMPLES_PER_REPORT} samples; start MB is the process after imports, before work)"
    )


if __name__ == "__main__":
    main()
