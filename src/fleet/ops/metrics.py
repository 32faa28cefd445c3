"""Prometheus metrics (the official client), in multiprocess mode under ``fleet serve``.

``fleet serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory before any worker
starts; every worker then writes its figures to its own files there and a scrape of any worker
(or of the separate metrics listener) adds them up. Without that variable (tests, scripts) the
figures are this process's own.

Figures that are facts of the database — installations and roll-outs by status, tests running,
the schema revision — are read at scrape time by a few indexed ``GROUP BY`` queries, so they
are right whichever worker or host answers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fleet import __version__

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# -- HTTP ---------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "fleet_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "fleet_http_request_duration_seconds",
    "Time from request to the end of the answer, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HTTP_IN_FLIGHT = Gauge(
    "fleet_http_requests_in_flight",
    "HTTP requests being answered now.",
    multiprocess_mode="livesum",
)
# -- database pool ------------------------------------------------------------------------------
DB_POOL_IN_USE = Gauge(
    "fleet_db_pool_connections_in_use",
    "Database connections checked out of the pools now.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITS = Counter(
    "fleet_db_pool_waits",
    "Connection checkouts that found the pool exhausted and had to wait.",
)
DB_POOL_WAIT_SECONDS = Histogram(
    "fleet_db_pool_checkout_seconds",
    "Time to get a connection from the pool.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0),
)
# -- live events --------------------------------------------------------------------------------
WS_CONNECTIONS = Gauge(
    "fleet_ws_connections",
    "Open WebSocket connections of signed-in users.",
    multiprocess_mode="livesum",
)
WS_EVENTS_SENT = Counter("fleet_ws_events_sent", "Live events sent to WebSocket clients.")
WS_EVENTS_DROPPED = Counter(
    "fleet_ws_events_dropped",
    "Live events not delivered because a client was too slow (its queue was full).",
)
# -- device API ---------------------------------------------------------------------------------
DDI_POLLS = Counter("fleet_ddi_polls", "DDI base polls answered to devices.")
DDI_FEEDBACK = Counter(
    "fleet_ddi_feedback_reports", "DDI action feedback reports, by outcome.", ["outcome"]
)
FEEDBACK_BATCH = Histogram(
    "fleet_ddi_feedback_batch_size",
    "Feedback reports applied by one group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
TELEMETRY_SAMPLES = Counter("fleet_telemetry_samples", "Telemetry samples ingested.")
# -- tests, logins, backups ---------------------------------------------------------------------
TEST_VERDICTS = Counter("fleet_test_verdicts", "Tests finished, by verdict.", ["verdict"])
LOGIN_FAILURES = Counter("fleet_login_failures", "Failed logins (password or badge).")
LOGIN_THROTTLED = Counter("fleet_logins_throttled", "Logins refused by the throttle.")
BACKUP_SECONDS = Histogram(
    "fleet_backup_duration_seconds",
    "Duration of backups and restores, by operation.",
    ["operation"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)

# Every family shows from the first scrape on, at zero, so alerts and rates need no guessing.
for _verdict in ("passed", "warning", "failed", "aborted"):
    TEST_VERDICTS.labels(_verdict)
for _outcome in ("applied", "refused"):
    DDI_FEEDBACK.labels(_outcome)
for _operation in ("backup", "restore"):
    BACKUP_SECONDS.labels(_operation)


def multiprocess_dir() -> str | None:
    """The shared directory of the workers' figures, when serving with several processes."""
    return os.environ.get(MULTIPROC_ENV) or None


def worker_exit() -> None:
    """Forget this worker's live gauges (in flight, connections) when it stops."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())


# -- database pool instrumentation --------------------------------------------------------------
def instrument_pool(sync_engine: Any, max_overflow: int) -> None:
    """Count connections in use, checkout time and the checkouts that had to wait."""
    from sqlalchemy import event
    from sqlalchemy.pool import QueuePool

    event.listen(sync_engine, "checkout", lambda *_: DB_POOL_IN_USE.inc())
    event.listen(sync_engine, "checkin", lambda *_: DB_POOL_IN_USE.dec())
    pool = sync_engine.pool
    if not isinstance(pool, QueuePool):
        return
    take = pool._do_get  # the one place a checkout can block

    def timed_get() -> Any:
        exhausted = pool.checkedout() >= pool.size() + max_overflow
        start = time.perf_counter()
        try:
            return take()
        finally:
            DB_POOL_WAIT_SECONDS.observe(time.perf_counter() - start)
            if exhausted:
                DB_POOL_WAITS.inc()

    pool._do_get = timed_get  # type: ignore[method-assign]


# -- figures read from the database at scrape time ----------------------------------------------
class DatabaseCollector(Collector):
    """Installations and roll-outs by status, tests running, build info — from the database."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._engine: Any = None

    def _connect(self) -> Any:
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            from fleet.settings import sync_database_url

            # One short connection per scrape: a scrape every 15 s needs no pool.
            self._engine = create_engine(sync_database_url(self._url), poolclass=NullPool)
        return self._engine.connect()

    def collect(self) -> Iterator[Metric]:
        from sqlalchemy import text

        installations = GaugeMetricFamily(
            "fleet_installations", "Software installations by status.", labels=["status"]
        )
        rollouts = GaugeMetricFamily("fleet_rollouts", "Roll-outs by status.", labels=["status"])
        running = GaugeMetricFamily("fleet_tests_running", "Tests in progress now.")
        build = GaugeMetricFamily(
            "fleet_build_info",
            "The running version and the database's schema revision.",
            labels=["version", "schema_revision"],
        )
        up = GaugeMetricFamily("fleet_database_up", "1 when the database answered the scrape.")
        try:
            with self._connect() as conn:
                for status, n in conn.execute(
                    text("SELECT status, count(*) FROM software_installations GROUP BY status")
                ):
                    installations.add_metric([status or "none"], n)
                for status, n in conn.execute(
                    text("SELECT status, count(*) FROM rollouts GROUP BY status")
                ):
                    rollouts.add_metric([status], n)
                running.add_metric(
                    [],
                    conn.execute(
                        text("SELECT count(*) FROM test_reports WHERE status = 'in_progress'")
                    ).scalar_one(),
                )
                revisions = sorted(
                    conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                )
            up.add_metric([], 1)
            build.add_metric([__version__, ",".join(revisions)], 1)
        except Exception:
            up.add_metric([], 0)
            build.add_metric([__version__, "unknown"], 1)
            yield up
            yield build
            return
        yield from (installations, rollouts, running, build, up)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def registry_for_scrape(db: DatabaseCollector | None) -> CollectorRegistry:
    """The registry a scrape reads: every worker's figures (or this process's) + the database."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessFigures())
    if db is not None:
        registry.register(db)
    return registry


class _ProcessFigures(Collector):
    """This process's own fleet_* figures (no multiprocess directory)."""

    def collect(self) -> Iterable[Metric]:
        for metric in REGISTRY.collect():
            if metric.name.startswith("fleet_"):
                yield metric


def exposition(db: DatabaseCollector | None) -> tuple[bytes, str]:
    """The scrape's body and content type."""
    return generate_latest(registry_for_scrape(db)), CONTENT_TYPE_LATEST
