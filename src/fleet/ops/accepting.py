"""The event loop ``fleet serve`` runs: uvloop, accepting new connections in batches.

uvloop accepts one connection per turn of the event loop. A turn of a busy worker lasts about
as long as every ready request step in it (10-20 ms under load), so a burst of new connections
(clients reconnecting after a restart, a page opening many at once, 256 at the start of a load
test) waits in the kernel's accept queue for seconds: measured with 248 connections opened at
once against the devices page, the queue held 138 of them and drained at about 70 a second,
and the first answers on those connections took up to 2.5 s although the server answered each
within 0.6 s of reading it.

Here the listening socket is read by our own reader, which accepts up to ``BATCH`` waiting
connections per turn and hands each to the loop as an accepted socket; everything after that
(the transport, the HTTP protocol, keep-alive, draining) is uvloop's and uvicorn's as before.
With it the same 248 connections got their first answers within 1 s (p99 0.6 s).

The batch is small so that workers sharing the socket still share new connections evenly: the
kernel wakes every worker waiting on it, and a worker handles the requests of what it accepted
before it accepts more. With 16 per turn, one start of 32 connections in six went 31 to 1 to
one worker (its clients then wait twice as long); with 4, ten starts split 16/16 or at worst
12/20, as one per turn did.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvloop

log = logging.getLogger(__name__)

BATCH = 4
RETRY_SECONDS = 0.5  # after running out of file descriptors, as asyncio's own servers wait


class BatchAcceptServer(asyncio.AbstractServer):
    """A listening TCP socket whose waiting connections are accepted ``BATCH`` at a time."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        sock: socket.socket,
        backlog: int,
    ) -> None:
        self._loop = loop
        self._backlog = backlog
        self._factory = protocol_factory
        self._sock = sock
        self._serving = False
        self._attaching: set[asyncio.Task[Any]] = set()
        self._retry: asyncio.TimerHandle | None = None
        sock.setblocking(False)

    # -- asyncio.AbstractServer -------------------------------------------------------------
    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return () if self._sock.fileno() < 0 else (self._sock,)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        if not self._serving and self._sock.fileno() >= 0:
            self._sock.listen(self._backlog)
            self._watch()

    def close(self) -> None:
        """Stop accepting and close the listening socket (open connections stay)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self._unwatch()
        self._sock.close()

    async def wait_closed(self) -> None:
        if self._attaching:
            await asyncio.gather(*self._attaching, return_exceptions=True)

    async def serve_forever(self) -> None:  # pragma: no cover - uvicorn runs its own loop
        await self.start_serving()
        await asyncio.Future()

    # -- accepting --------------------------------------------------------------------------
    def _accept(self) -> None:
        for _ in range(BATCH):
            try:
                conn, _address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # the queue is empty (or another worker took what was there)
            except ConnectionAbortedError:
                continue  # the client gave up while waiting: take the next one
            except OSError as exc:
                # Out of file descriptors or memory (or worse): leave the rest queued and try
                # again in a moment, rather than spin on a socket that stays readable.
                log.error("cannot accept connections: %s; retrying shortly", exc)
                self._unwatch()
                self._retry = self._loop.call_later(RETRY_SECONDS, self._resume)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self._loop.create_task(self._attach(conn))
            self._attaching.add(task)
            task.add_done_callback(self._attaching.discard)

    def _watch(self) -> None:
        self._loop.add_reader(self._sock.fileno(), self._accept)
        self._serving = True

    def _unwatch(self) -> None:
        if self._serving:
            self._loop.remove_reader(self._sock.fileno())
            self._serving = False

    def _resume(self) -> None:
        self._retry = None
        if self._sock.fileno() >= 0:
            self._watch()

    async def _attach(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except Exception:
            log.exception("could not set up an accepted connection")
            conn.close()


class BatchAcceptLoop(uvloop.Loop):
    """uvloop, whose servers on an already bound TCP socket accept in batches."""

    async def create_server(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: Any = None,
        port: Any = None,
        *,
        sock: socket.socket | None = None,
        ssl: Any = None,
        backlog: int = 100,
        start_serving: bool = True,
        **kwargs: Any,
    ) -> asyncio.AbstractServer:
        tcp = (
            sock is not None
            and sock.family in (socket.AF_INET, socket.AF_INET6)
            and sock.type == socket.SOCK_STREAM
        )
        if not tcp or ssl is not None or host is not None or port is not None:
            return await super().create_server(
                protocol_factory,
                host,
                port,
                sock=sock,
                ssl=ssl,
                backlog=backlog,
                start_serving=start_serving,
                **kwargs,
            )
        assert sock is not None
        server = BatchAcceptServer(self, protocol_factory, sock, backlog)
        if start_serving:
            await server.start_serving()
        return server


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvicorn's loop factory (``loop="fleet.ops.accepting:new_event_loop"``)."""
    return BatchAcceptLoop()
