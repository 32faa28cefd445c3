"""The serving loop accepts a burst of new connections in a few turns of a busy loop, where
stock uvloop takes one turn per connection (the control)."""

from __future__ import annotations

import asyncio
import errno
import socket
import threading
import time
from collections.abc import Callable

import pytest
import uvloop

from fleet.ops import accepting, draining

BURST = 64
TURN_SECONDS = 0.02  # a busy worker's turn of the event loop


class _Made:
    """When each connection reached its protocol; ``all_in`` is set at ``expected``."""

    def __init__(self, expected: int) -> None:
        self.times: list[float] = []
        self.expected = expected
        self.all_in = asyncio.Event()

    def protocol(self) -> asyncio.Protocol:
        made = self

        class Counting(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                made.times.append(time.perf_counter())
                if len(made.times) >= made.expected:
                    made.all_in.set()

        return Counting()


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _burst_seconds(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> float:
    """Seconds until BURST connections opened at once reach the protocol, on a loop kept busy
    for TURN_SECONDS every turn."""
    loop = new_loop()
    asyncio.set_event_loop(loop)
    made = _Made(BURST)
    sock = _listening_socket()
    port = sock.getsockname()[1]
    clients: list[socket.socket] = []

    async def scenario() -> float:
        server = await loop.create_server(made.protocol, sock=sock, backlog=1024)
        busy = True

        def turn() -> None:  # every turn of the loop costs TURN_SECONDS of CPU
            time.sleep(TURN_SECONDS)
            if busy:
                loop.call_soon(turn)

        loop.call_soon(turn)

        def connect_all() -> None:
            for _ in range(BURST):
                clients.append(socket.create_connection(("127.0.0.1", port)))

        started = time.perf_counter()
        opener = threading.Thread(target=connect_all)
        opener.start()
        try:
            async with asyncio.timeout(10):
                await made.all_in.wait()
        finally:
            busy = False
            opener.join()
            server.close()
            await server.wait_closed()
        return max(made.times) - started

    try:
        return loop.run_until_complete(scenario())
    finally:
        for client in clients:
            client.close()
        loop.close()


def test_a_busy_loop_accepts_a_burst_in_a_few_turns() -> None:
    seconds = _burst_seconds(accepting.new_event_loop)
    # BURST / BATCH turns, plus a few the opening thread itself spans
    assert seconds < (BURST / accepting.BATCH + 4) * TURN_SECONDS * 1.5, seconds


def test_control_stock_uvloop_accepts_one_connection_per_turn() -> None:
    seconds = _burst_seconds(uvloop.new_event_loop)
    assert seconds > BURST * TURN_SECONDS * 0.8, seconds


def test_a_closed_server_refuses_new_connections() -> None:
    loop = accepting.new_event_loop()
    asyncio.set_event_loop(loop)
    sock = _listening_socket()
    port = sock.getsockname()[1]

    async def scenario() -> None:
        made = _Made(1)
        server = await loop.create_server(made.protocol, sock=sock)
        assert isinstance(server, accepting.BatchAcceptServer) and server.is_serving()
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            await made.all_in.wait()
        server.close()
        await server.wait_closed()
        assert not server.is_serving() and server.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)
        writer.close()  # the connection accepted before stays usable until closed
        await writer.wait_closed()

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


def test_fleet_serve_runs_the_batch_accepting_loop() -> None:
    config = draining.server_config("fleet.app:create_app", factory=True, workers=2)
    assert config.loop == draining.LOOP
    factory = config.get_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, accepting.BatchAcceptLoop)
    finally:
        loop.close()


class _OutOfDescriptorsOnce(socket.socket):
    """A listening socket whose first accept fails as when the process has no file left."""

    failed = False

    def accept(self) -> tuple[socket.socket, object]:
        if not self.failed:
            self.failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


def test_a_failed_accept_pauses_then_takes_the_waiting_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = accepting.new_event_loop()
    asyncio.set_event_loop(loop)
    sock = _OutOfDescriptorsOnce(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    async def scenario() -> float:
        made = _Made(1)
        server = await loop.create_server(made.protocol, sock=sock)
        started = time.perf_counter()
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with asyncio.timeout(5):
            await made.all_in.wait()
        waited = time.perf_counter() - started
        assert server.is_serving()  # listening again after the pause
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return waited

    try:
        waited = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert sock.failed and waited >= accepting.RETRY_SECONDS * 0.9, waited
    assert "cannot accept connections" in caplog.text
