"""Wiring of the device API into the app: config, cross-worker event bus, DDI routes, sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fleet.devices_api import ddi, presence
from fleet.devices_api.fanout import FanoutBus
from fleet.devices_api.feedback import FeedbackBatcher
from fleet.state import app_state

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    """Give the app the device-API config, the cross-worker bus, the batched action feedback
    and the root DDI routes."""
    state = app_state(app)
    state.device_api = state.settings.ddi
    state.events = FanoutBus(state.engine)
    state.feedback = FeedbackBatcher(
        state.sessionmaker, state.settings, state.device_api.gateway_token
    )
    app.include_router(ddi.router)


async def _sweep_forever(app: FastAPI) -> None:
    state = app_state(app)
    cfg = state.device_api
    bus = state.events
    while True:
        await asyncio.sleep(cfg.sweep_seconds)
        try:
            await presence.sweep(state.sessionmaker, bus, cfg)
        except Exception:
            log.exception("presence sweep failed; retrying")


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """Run the offline sweeper while the app serves; stop listening for events at the end."""
    task = asyncio.create_task(_sweep_forever(app))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        bus = app_state(app).events
        if isinstance(bus, FanoutBus):
            await bus.close()
