"""A big import does not hold the event loop: other work runs all along while it is checked.

In-process (the same event loop serves the import and a ticker that stands for the other
requests). The latency figures under a real server are bench/import_stall_bench.py's."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from fleet import pacing
from tests.factories import add_template
from tests.fleet_data.conftest import API

ROWS = 40_000


async def _ticker(stop: asyncio.Event, gaps: list[float]) -> None:
    """Stands for other requests: like the server, each one a task of its own."""
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.create_task(asyncio.sleep(0.001))
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_import_dry_run_leaves_the_loop_to_others(
    client: httpx.AsyncClient, manager: dict[str, str], sessionmaker, fmt: str
) -> None:
    await add_template(
        sessionmaker,
        "mask_tester",
        {"type": "object", "properties": {"port": {"type": "string"}}},
        {"port": "COM1"},
    )
    records = [
        {"device_number": f"P-{i:06d}", "device_type": "mask_tester", "serial_number": f"S{i}"}
        for i in range(ROWS)
    ]
    if fmt == "json":
        body = json.dumps(records).encode()
    else:
        body = (
            "device_number,device_type,serial_number\n"
            + "".join(f"{r['device_number']},mask_tester,{r['serial_number']}\n" for r in records)
        ).encode()
    stop = asyncio.Event()
    gaps: list[float] = []
    ticker = asyncio.create_task(_ticker(stop, gaps))
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    r = await client.post(
        f"{API}/import",
        headers=manager,
        params={"entity": "devices", "dry_run": "true"},
        files={"file": (f"d.{fmt}", body, "application/octet-stream")},
    )
    took = time.perf_counter() - started
    stop.set()
    await ticker
    assert r.status_code == 200, r.text
    assert r.json()["created"] == ROWS and r.json()["errors"] == []
    # The other "requests" ran all through the import: never kept waiting long (unpaced,
    # parsing and checking 40 000 rows holds the loop for seconds at a time), and served
    # again and again (paced: ~4 per 10 ms; unpaced only at the import's database awaits).
    assert max(gaps) < 1.0, (max(gaps), took)
    expected = took / (pacing.WORK_SECONDS + pacing.REST_SECONDS + 0.002) / 2
    assert len(gaps) >= expected, (len(gaps), took)
    assert pacing._open_pacers == 0  # the collector got everything back
