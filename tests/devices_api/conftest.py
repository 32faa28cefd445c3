"""Fixtures of the device-API tests: the event bus closed after each test, and the test app
served on a real port. The factories (devices, tokens, versions with artifacts) are in
``tests/factories.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from tests.support import free_port


@pytest.fixture(autouse=True)
def _close_bus(close_event_bus: None) -> None:
    """Every test here closes the app's event bus afterwards (a module with no app overrides
    this fixture)."""


@pytest.fixture
async def live(app: Any) -> AsyncIterator[str]:
    """Serve the test app on a real port in this event loop (WebSockets need a server)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # uvicorn offers a flag, not an event, for "started"
        if server.started:
            break
        await asyncio.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task
