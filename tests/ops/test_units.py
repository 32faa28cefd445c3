"""Small parts of operations: pool figures, the workers default, the request id."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from prometheus_client import REGISTRY
from sqlalchemy import create_engine
from sqlalchemy.pool import QueuePool

from fleet.ops.context import request_id_from
from fleet.ops.metrics import instrument_pool
from fleet.ops.serving import default_workers
from fleet.settings import Settings


def _value(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_pool_in_use_and_waits(tmp_path: Path) -> None:
    engine = create_engine(
        f"sqlite:///{tmp_path / 'pool.db'}", poolclass=QueuePool, pool_size=1, max_overflow=0,
        pool_timeout=10,
    )
    instrument_pool(engine, max_overflow=0)
    waits, in_use = _value("fleet_db_pool_waits_total"), _value("fleet_db_pool_connections_in_use")
    checkouts = _value("fleet_db_pool_checkout_seconds_count")
    waited = _value("fleet_db_pool_checkout_seconds_sum")
    first = engine.connect()
    assert _value("fleet_db_pool_connections_in_use") == in_use + 1
    assert _value("fleet_db_pool_waits_total") == waits  # a free connection: no wait
    release = threading.Timer(0.3, first.close)
    release.start()
    second = engine.connect()  # the pool is exhausted until the timer gives one back
    assert _value("fleet_db_pool_waits_total") == waits + 1
    assert _value("fleet_db_pool_checkout_seconds_count") == checkouts + 2
    assert _value("fleet_db_pool_checkout_seconds_sum") - waited >= 0.2
    second.close()
    release.join()
    assert _value("fleet_db_pool_connections_in_use") == in_use
    engine.dispose()


def test_workers_default_from_cpu_count() -> None:
    assert default_workers(Settings(env="development")) == 1
    assert default_workers(Settings(env="production")) == max(1, min(os.cpu_count() or 1, 64))


def test_request_id_taken_when_sane_else_made() -> None:
    assert request_id_from(b"abc-123.x:y_z") == "abc-123.x:y_z"
    made = request_id_from(b"bad id with spaces\r\n")
    assert made != "bad id with spaces" and len(made) == 32
    assert request_id_from(None) != request_id_from(None)
    assert len(request_id_from(b"x" * 500)) == 32  # too long: replaced
