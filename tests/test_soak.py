"""A short soak (``bench/soak.py`` with small sizes, about a minute) on PostgreSQL: a real
``fleet serve`` with two workers under the whole mix, one worker killed with ``kill -9`` and the
server restarted during it; no acknowledged write may be missing."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL
from tests.support import drop_database, recreate_database

pytestmark = pytest.mark.skipif(not PG_URL, reason="the soak runs on PostgreSQL only")


def _load_soak() -> Any:
    path = Path(__file__).resolve().parents[1] / "bench" / "soak.py"
    spec = importlib.util.spec_from_file_location("fleet_soak_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def soak_url() -> Iterator[str]:
    """A database of its own next to the test database, dropped afterwards."""
    assert PG_URL
    url = make_url(PG_URL)
    soak_db = url.set(database=f"{url.database}_soak").render_as_string(hide_password=False)
    recreate_database(soak_db)
    yield soak_db
    drop_database(soak_db)


def test_short_soak_loses_no_acknowledged_write(soak_url: str) -> None:
    soak = _load_soak()
    opts = soak.Options(
        url=soak_url,
        minutes=1.0,
        testers=30,
        telemetry_devices=4,
        operators=2,
        readers=2,
        poll_seconds=5,
        group_size=10,
        kill_at=0.4,
        restart_at=0.7,
        quiet=True,
    )
    table, stats = asyncio.run(soak.soak(opts))
    rows = {kind: (acked, stored, missing) for kind, acked, stored, missing in table}
    assert [e.split(": ", 1)[1][:7] for e in stats.events] == ["kill -9", "server "]
    assert all(missing == 0 for _a, _s, missing in rows.values()), rows
    for kind in ("telemetry samples", "step samples (in traces)", "installations"):
        assert rows[kind][0] > 0, (kind, rows)
    assert rows["tests (sealed, verifying)"][0] > 0 and rows["audit rows"][0] > 0, rows
