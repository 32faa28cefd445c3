"""What ``fleet serve`` does before uvicorn takes over: migrate, workers, logs, metrics."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported


def prepare_multiprocess_dir() -> Path:
    """Give the workers an empty figures directory (set in the environment they inherit).

    Runs before prometheus_client is imported in this process, so a single worker serving in
    this very process writes its figures there too. Files of an earlier run are removed:
    counters start at zero, as Prometheus expects of a restarted target.
    """
    chosen = os.environ.get(MULTIPROC_ENV)
    path = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="fleet-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def default_workers(settings: Settings) -> int:
    """One worker per CPU in production (the app is async: more would only add memory)."""
    if settings.env != "production":
        return 1
    return max(1, min(os.cpu_count() or 1, 64))


def start_metrics_listener(settings: Settings) -> threading.Thread:
    """Serve /metrics on FLEET_METRICS_BIND from the supervising process (all workers' sums)."""
    from prometheus_client import start_http_server

    from fleet.ops import metrics

    host, port = settings.metrics_address()
    registry = metrics.registry_for_scrape(
        metrics.DatabaseCollector(settings.resolved_database_url())
    )
    _server, thread = start_http_server(port, addr=host, registry=registry)
    return thread


def serve(
    settings: Settings, host: str, port: int, workers: int | None, proxy_headers: bool
) -> None:
    """Migrate, prepare the shared metrics directory, then run uvicorn (blocking)."""
    own_dir = not os.environ.get(MULTIPROC_ENV)
    figures = prepare_multiprocess_dir()
    try:
        _serve(settings, host, port, workers, proxy_headers)
    finally:
        if own_dir:
            shutil.rmtree(figures, ignore_errors=True)


def _serve(
    settings: Settings, host: str, port: int, workers: int | None, proxy_headers: bool
) -> None:
    from fleet import migrate
    from fleet.ops import draining, logs

    settings.jwt_secret()
    mode = settings.metrics_mode()
    if mode == "token" and not (
        settings.metrics_token and settings.metrics_token.get_secret_value()
    ):
        from fleet.settings import ConfigError

        raise ConfigError("FLEET_METRICS=token needs FLEET_METRICS_TOKEN")
    if settings.demo_fleet and settings.env == "production":
        from fleet.settings import ConfigError

        raise ConfigError("the demo fleet is for development only (FLEET_ENV=production)")
    migrate.upgrade(settings)
    workers = workers or default_workers(settings)
    fit_pool(settings, workers)
    if mode == "bind":
        start_metrics_listener(settings)
    fleet = None
    if settings.demo_fleet:  # the living demo: simulated testers in a thread of this process
        from fleet.ops import demo_fleet

        fleet = demo_fleet.start(settings, host, port)
    try:
        draining.run(  # uvicorn.run's options, connections drained on shutdown
            "fleet.ops.serving:create_served_app",
            factory=True,
            host=host,
            port=port,
            workers=workers or default_workers(settings),
            proxy_headers=proxy_headers,
            forwarded_allow_ips=settings.forwarded_allow_ips if proxy_headers else None,
            log_config=logs.log_config(settings.log_format, settings.log_level),
            access_log=False,  # fleet.access writes it, in the same format, with the route
            server_header=False,
        )
    finally:
        if fleet is not None:
            fleet.stop()


def fit_pool(settings: Settings, workers: int) -> None:
    """Cap every worker's connection pool so that all of them fit in PostgreSQL's limit."""
    from fleet.dialect import url_is_postgres
    from fleet.overload import fitted_pool
    from fleet.settings import env_name, get_settings, sync_database_url

    url = sync_database_url(settings.resolved_database_url())
    if not url_is_postgres(url):
        return
    pool, overflow, limit = fitted_pool(
        url, workers, settings.db_pool_size, settings.db_max_overflow
    )
    if (pool, overflow) != (settings.db_pool_size, settings.db_max_overflow):
        print(
            f"database pool per worker: {pool} + {overflow} burst "
            f"({workers} worker(s), PostgreSQL max_connections={limit})"
        )
    # The workers read their settings from the environment (under the settings' own names).
    os.environ[env_name("db_pool_size")] = str(pool)
    os.environ[env_name("db_max_overflow")] = str(overflow)
    get_settings.cache_clear()


def create_served_app(settings: Settings | None = None) -> FastAPI:
    """The app as ``fleet serve``'s workers run it: ``create_app`` whose heap is settled once
    it has started (see ``settle_heap``)."""
    from fleet.app import create_app

    app = create_app(settings)
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        async with started(served) as state:
            settle_heap()
            yield state

    app.router.lifespan_context = lifespan
    return app


def settle_heap() -> None:
    """Hide what lives as long as the worker (modules, the app, its routes and compiled
    statements) from the cyclic garbage collector.

    A full collection walks every object the collector tracks, and every request of the worker
    waits meanwhile: about 270 000 objects after start, 0.5 s per full collection measured under
    load, about one full collection every few thousand requests. Frozen, they are no longer
    walked; what requests allocate is collected as before. Not for tests, which start many apps
    in one process: frozen objects are never collected.
    """
    gc.collect()
    gc.freeze()
