"""The HTTP protocol ``fleet serve`` runs: uvicorn's httptools protocol, drained on shutdown.

When uvicorn stops (SIGTERM, SIGINT, or a worker being replaced) it stops listening and, by
itself, cuts every kept-alive connection that is idle at that instant. A client that sends its
next request on such a connection at the same moment gets a connection reset, without knowing
whether the request was processed. Here an idle connection is drained instead: it stays open
for ``DRAIN_SECONDS``; a request that arrives meanwhile is served and answered with
``Connection: close``, and the connection closes after that answer; an idle connection closes
when the drain time is over. A request already running is answered with ``Connection: close``
as before, and uvicorn waits for it. The client then reconnects, to the restarted server or
another worker, and is never reset mid-request.

With several workers, uvicorn's supervisor keeps its copy of the listening socket until it
exits: while the workers drain, the kernel still completes new connections into the socket's
backlog, nobody accepts them, and they are reset when the supervisor exits — after their
clients sent a request. ``run`` uses a supervisor that closes its copy before it stops the
workers, so the socket stops listening as soon as they do: a client trying to connect is then
refused (and knows its request was never sent) instead of reset.

Kept-alive connections idle longer than ``KEEP_ALIVE_SECONDS`` are closed by the server; that is
longer than clients and proxies keep an idle connection (httpx 5 s, nginx's upstream
``keepalive_timeout`` 60 s), so the client closes first and never sends on a connection the
server is closing (uvicorn's 5 s equals httpx's: under load, some requests were reset so).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

STARTUP_FAILURE = 3  # uvicorn's exit code when the server could not start

DRAIN_SECONDS = 1.0
KEEP_ALIVE_SECONDS = 75
PROTOCOL = "fleet.ops.draining:DrainingHttpToolsProtocol"  # uvicorn's ``http`` option
LOOP = "fleet.ops.accepting:new_event_loop"  # uvicorn's ``loop`` option (fleet.ops.accepting)


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol whose idle connections are drained, not cut, on shutdown."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._draining = False
        self._drain_timer: asyncio.TimerHandle | None = None

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def shutdown(self) -> None:
        """Called by the server when it stops: drain an idle connection, end a busy one."""
        if not self._idle():
            super().shutdown()  # the running request is answered with Connection: close
            return
        if self.transport.is_closing() or self._draining:
            return
        self._draining = True
        self._drain_timer = self.loop.call_later(DRAIN_SECONDS, self._close_if_idle)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self._draining and self.cycle is not None:
            # The last answer on this connection: it carries Connection: close.
            self.cycle.keep_alive = False
            if self._drain_timer is not None:
                self._drain_timer.cancel()
                self._drain_timer = None

    def _close_if_idle(self) -> None:
        self._drain_timer = None
        if self._idle() and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        super().connection_lost(exc)


class DrainingMultiprocess(Multiprocess):
    """uvicorn's supervisor, closing its copy of the listening socket before stopping the
    workers (each closes its own as its shutdown begins)."""

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


def server_config(app: str, **kwargs: Any) -> uvicorn.Config:
    """uvicorn's configuration with the draining protocol, the longer keep-alive and the loop
    that accepts new connections in batches."""
    kwargs.setdefault("http", PROTOCOL)
    kwargs.setdefault("loop", LOOP)
    kwargs.setdefault("timeout_keep_alive", KEEP_ALIVE_SECONDS)
    return uvicorn.Config(app, **kwargs)


def run(app: str, **kwargs: Any) -> None:
    """Serve like ``uvicorn.run`` (same options), with the draining protocol and supervisor.

    The socket is bound here in both cases, so that one worker accepts in batches too (its
    server is then created on that socket, see ``fleet.ops.accepting``)."""
    config = server_config(app, **kwargs)
    sock = config.bind_socket()
    if config.workers > 1:
        DrainingMultiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)
