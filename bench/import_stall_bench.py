"""Does a big import stall everyone else? A 150 000-row device import dry run against a served
app, while two clients keep asking ``/health`` and a devices page.

Serves the app with ``fleet serve`` (demo data) on a fresh SQLite file, or on PostgreSQL with
``--url``, measures the two probes alone, then again while the import dry run runs, and
prints p50 / p99 / max per probe. Target: p99 under 100 ms during the import.

Run by hand (never part of the test suite):

    .venv/bin/python bench/import_stall_bench.py [--rows 150000] [--format csv|json]
        [--url postgresql://postgres@127.0.0.1:5432/fleet_stall_bench]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root
from tests.support import base_env, fresh_postgres, run_fleet, start_server

SECRET = "bench-secret-key-that-is-long-enough-for-hs256"  # noqa: S105 - throwaway bench db
TARGET_P99_MS = 100.0


def make_file(rows: int, fmt: str) -> bytes:
    """A devices file of ``rows`` new devices of the demo's types (validated by its templates)."""
    types = ["mask_tester", "pressure_sensor", "flow_meter"]
    records = [
        {
            "device_number": f"IMP-{i:06d}",
            "device_type": types[i % len(types)],
            "kind_of_device": "full_face_mask",
            "serial_number": f"SN-IMP-{i:06d}",
            "status": "active",
        }
        for i in range(rows)
    ]
    if fmt == "json":
        # as our export writes it, without the two columns at their defaults (20 MB limit)
        slim = [
            {k: v for k, v in r.items() if k not in ("kind_of_device", "status")} for r in records
        ]
        return json.dumps(slim, separators=(",", ":")).encode()
    out = io.StringIO()
    out.write("device_number,device_type,kind_of_device,serial_number,status\r\n")
    for r in records:
        out.write(
            f"{r['device_number']},{r['device_type']},{r['kind_of_device']},"
            f"{r['serial_number']},{r['status']}\r\n"
        )
    return out.getvalue().encode()


def summary(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"n={len(ordered):4d}  p50={statistics.median(ordered):6.1f} ms  "
        f"p99={p99:6.1f} ms  max={ordered[-1]:6.1f} ms"
    )


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def probe(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], stop: asyncio.Event
) -> list[float]:
    """Ask ``path`` again and again (one request in flight, 10 ms apart) until ``stop``."""
    latencies: list[float] = []
    while not stop.is_set():
        start = time.perf_counter()
        r = await client.get(path, headers=headers)
        latencies.append((time.perf_counter() - start) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")
        await asyncio.sleep(0.01)
    return latencies


async def measure(
    base: str, headers: dict[str, str], during: Callable[[], None] | None, seconds: float
) -> dict[str, list[float]]:
    stop = asyncio.Event()
    paths = {"health": "/health", "devices": "/api/v1/fleet-data/devices?limit=50"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        tasks = {k: asyncio.create_task(probe(client, p, headers, stop)) for k, p in paths.items()}
        if during is None:
            await asyncio.sleep(seconds)
        else:
            await asyncio.to_thread(during)
        stop.set()
        return {k: await t for k, t in tasks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--format", choices=("csv", "json"), default="csv")
    parser.add_argument("--url", help="PostgreSQL URL (emptied first); default: a SQLite file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="import-stall-"))
    if args.url:
        fresh_postgres(args.url)
    env = base_env(args.url, workdir, FLEET_SECRET_KEY=SECRET)
    run_fleet("db", "upgrade", env=env)
    run_fleet("demo", env=env)
    served = start_server(env, workdir / "server.log", timeout=60)
    base = served.base
    try:
        tokens = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "manager1", "password": "pass"}
        ).json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        data = make_file(args.rows, args.format)
        print(
            f"database: {'PostgreSQL' if args.url else 'SQLite'}; file: {args.rows} rows, "
            f"{args.format}, {len(data) / 1e6:.1f} MB"
        )

        baseline = asyncio.run(measure(base, headers, None, 3.0))
        print("alone:")
        for name, samples in baseline.items():
            print(f"  {name:8s} {summary(samples)}")

        result: dict[str, Any] = {}

        def run_import() -> None:
            start = time.perf_counter()
            r = httpx.post(
                f"{base}/api/v1/fleet-data/import",
                headers=headers,
                params={"entity": "devices", "dry_run": "true", "format": args.format},
                files={"file": (f"devices.{args.format}", data, "application/octet-stream")},
                timeout=600,
            )
            result["seconds"] = time.perf_counter() - start
            result["status"] = r.status_code
            result["body"] = r.json() if r.status_code == 200 else r.text[:300]

        during = asyncio.run(measure(base, headers, run_import, 0))
        body = result["body"]
        if result["status"] != 200:
            sys.exit(f"import failed: {result['status']} {body}")
        print(
            f"import dry run: {result['seconds']:.2f} s, rows {body['rows']}, "
            f"would create {body['created']}, errors {len(body['errors'])}"
        )
        print("during the import:")
        ok = True
        for name, samples in during.items():
            print(f"  {name:8s} {summary(samples)}")
            ok = ok and p99(samples) < TARGET_P99_MS
        print(f"target p99 < {TARGET_P99_MS:.0f} ms during the import: {'met' if ok else 'MISSED'}")
    finally:
        served.stop()


if __name__ == "__main__":
    main()
