"""One pure-ASGI middleware for what operations see of every request: its id (taken from
``X-Request-ID`` or made, echoed in the answer), the log context, the access log line and the
HTTP metrics; and, on a WebSocket, the id and context of the session's lines."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleet.ops import context, metrics

access_log = logging.getLogger("fleet.access")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class Observe:
    """Request id, log context, access log and HTTP metrics (outermost app middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        request_id = context.request_id_from(_header(scope, b"x-request-id"))
        method = scope.get("method", "WS") if kind == "http" else "WS"
        info = context.RequestInfo(request_id=request_id, method=method, scope=scope)
        token = context.current.set(info)
        try:
            if kind == "http":
                await self._http(scope, receive, send, info)
            else:
                await self._websocket(scope, receive, send, info)
        finally:
            context.current.reset(token)

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, info: context.RequestInfo
    ) -> None:
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = info.request_id
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - start
            route = info.route
            metrics.HTTP_REQUESTS.labels(route, info.method, str(status)).inc()
            metrics.HTTP_LATENCY.labels(route, info.method).observe(elapsed)
            client = scope.get("client")
            access_log.info(
                "%s %s %d",
                info.method,
                scope.get("path", ""),
                status,
                extra={
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": client[0] if client else None,
                    "scheme": scope.get("scheme"),
                },
            )

    async def _websocket(
        self, scope: Scope, receive: Receive, send: Send, info: context.RequestInfo
    ) -> None:
        start = time.perf_counter()
        close_code: int | None = None

        async def send_seen(message: Message) -> None:
            nonlocal close_code
            if message["type"] == "websocket.close":
                close_code = int(message.get("code", 1000))
            elif message["type"] == "websocket.accept":
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", info.request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            client = scope.get("client")
            access_log.info(
                "WS %s closed %s",
                scope.get("path", ""),
                close_code if close_code is not None else "by client",
                extra={
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                    "client": client[0] if client else None,
                    "scheme": scope.get("scheme"),
                },
            )

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_seen(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                metrics.worker_exit()
            await send(message)

        await self.app(scope, receive, send_seen)
