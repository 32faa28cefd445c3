"""Restarts are invisible to clients: on shutdown a kept-alive connection is drained, so a
request sent on it just as the server stops is answered (with ``Connection: close``), not
reset; uvicorn's own protocol, cutting idle connections at once, is the control."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fleet.ops.draining import (
    DRAIN_SECONDS,
    KEEP_ALIVE_SECONDS,
    PROTOCOL,
    DrainingHttpToolsProtocol,
    DrainingMultiprocess,
    server_config,
)

REQUEST = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Read one response; raises when the server closed or reset the connection instead."""
    status = await reader.readline()
    if not status:
        raise ConnectionResetError("closed without an answer")
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status.split()[1]), headers


@pytest.mark.parametrize(
    ("protocol", "drained"), [(DrainingHttpToolsProtocol, True), (HttpToolsProtocol, False)]
)
async def test_a_request_racing_the_shutdown_is_answered(
    app: Any, protocol: type[asyncio.Protocol], drained: bool
) -> None:
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=protocol)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.02)
    busy_reader, busy = await asyncio.open_connection("127.0.0.1", port)
    idle_reader, idle = await asyncio.open_connection("127.0.0.1", port)
    for reader, writer in ((busy_reader, busy), (idle_reader, idle)):
        writer.write(REQUEST)
        status, headers = await _answer(reader)
        assert status == 200 and headers.get("connection") != "close"

    server.should_exit = True  # what SIGTERM does
    for _ in range(500):
        if server.servers and not server.servers[0].is_serving():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the shutdown has reached the kept-alive connections
    busy.write(REQUEST)
    try:
        status, headers = await asyncio.wait_for(_answer(busy_reader), 5)
        answered = status == 200 and headers.get("connection") == "close"
        assert await busy_reader.read() == b""  # then closed by the server
    except (ConnectionError, asyncio.IncompleteReadError):
        answered = False
    assert answered is drained
    # An idle connection is closed once the drain is over, and the server stops.
    assert await asyncio.wait_for(idle_reader.read(), DRAIN_SECONDS + 5) == b""
    await asyncio.wait_for(task, DRAIN_SECONDS + 10)
    for writer in (busy, idle):
        writer.close()


def test_the_supervisor_stops_listening_before_it_stops_the_workers() -> None:
    """Connections made while the workers drain are refused, not queued and later reset."""
    config = uvicorn.Config("fleet.app:create_app", factory=True, port=_free_port(), workers=2)
    sock = config.bind_socket()
    sock.listen(16)  # as the workers' servers do
    supervisor = DrainingMultiprocess(config, sockets=[sock])
    with socket.create_connection(("127.0.0.1", config.port), timeout=2):
        pass  # listening: the kernel completes connections into the backlog
    supervisor.terminate_all()  # no worker started here; the socket was the last copy
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", config.port), timeout=2).close()


def test_the_server_keeps_idle_connections_longer_than_its_clients() -> None:
    config = server_config("fleet.app:create_app", factory=True, workers=2)
    assert config.http == PROTOCOL and config.timeout_keep_alive == KEEP_ALIVE_SECONDS
    assert KEEP_ALIVE_SECONDS > max(httpx.Limits().keepalive_expiry or 0, 60)


async def test_fleet_serve_workers_freeze_the_heap_they_started_with(settings: Any) -> None:
    """Full garbage collections no longer walk what a worker holds from its start."""
    import gc

    from fleet.ops.serving import create_served_app

    app = create_served_app(settings)
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            await app.state.events.ready()
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()  # this test process starts many apps: they must stay collectable
    await app.state.engine.dispose()
