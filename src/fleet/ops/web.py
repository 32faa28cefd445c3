"""Wiring of operations into the app: the Observe middleware, pool figures and /metrics."""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from fleet.ops import metrics
from fleet.ops.middleware import Observe
from fleet.settings import ConfigError, Settings
from fleet.state import app_state


def install(app: FastAPI, settings: Settings) -> None:
    """Add the request-id/log/metrics middleware (outermost) and, when set so, /metrics."""
    app.add_middleware(Observe)
    metrics.instrument_pool(app_state(app).engine.sync_engine, settings.db_max_overflow)
    mode = settings.metrics_mode()
    if mode not in ("open", "token"):
        return  # "bind": `fleet serve` runs a listener of its own; "disabled": nothing
    expected = ""
    if mode == "token":
        expected = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
        if not expected:
            raise ConfigError("FLEET_METRICS=token needs FLEET_METRICS_TOKEN")
    collector = metrics.DatabaseCollector(settings.resolved_database_url())
    app_state(app).metrics_collector = collector

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus text format: every worker's figures and the database's."""
        if expected:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
                return Response(
                    "metrics need the bearer token\n",
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                    media_type="text/plain",
                )
        body, content_type = await run_in_threadpool(metrics.exposition, collector)
        return Response(body, media_type=content_type)
