"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleet import __version__, edge, logredact, overload
from fleet.audit.router import router as audit_router
from fleet.auth.principal_cache import new_cache as new_principal_cache
from fleet.auth.router import router as auth_router
from fleet.config.router import public as config_public_router
from fleet.config.router import router as config_router
from fleet.db import create_engine, create_sessionmaker, read_only_engine
from fleet.devices_api import runtime as devices_runtime
from fleet.devices_api.router import credentials_router as device_credentials_router
from fleet.devices_api.router import device_router as device_api_router
from fleet.devices_api.ws import router as live_events_router
from fleet.errors import install_error_handlers
from fleet.events import EventBus
from fleet.fleet_data.devices import new_totals_memo as new_device_totals
from fleet.fleet_data.router import router as fleet_data_router
from fleet.ops import web as ops_web
from fleet.runs import lifecycle as test_lifecycle
from fleet.runs.router import reports_router, tests_router
from fleet.scenarios.router import router as scenarios_router
from fleet.settings import Settings, get_settings
from fleet.software.router import router as software_router
from fleet.state import app_state
from fleet.users.router import router as users_router
from fleet.web import pages
from fleet.workshop.router import router as workshop_router

API_ROUTERS: list[APIRouter] = [
    auth_router,
    users_router,
    audit_router,
    fleet_data_router,
    device_credentials_router,
    device_api_router,
    live_events_router,
    software_router,
    config_router,
    config_public_router,
    scenarios_router,
    tests_router,
    reports_router,
    workshop_router,
]

_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
_PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'"
)


class SecurityHeaders:
    """Add the security headers to every answer (pure ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in _SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                is_html = headers.get("content-type", "").startswith("text/html")
                if is_html and path != "/docs":  # Swagger UI boots with an inline script
                    headers.setdefault("Content-Security-Policy", _PAGE_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app: API routers, health, web pages, static files, error handlers."""
    settings = settings or get_settings()
    logredact.install()  # no token or other secret in any log line
    secret = settings.jwt_secret()
    engine = create_engine(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with devices_runtime.running(_app), test_lifecycle.sweeping(_app):
            state = app_state(_app)
            memos = (state.principal_cache, state.device_totals)
            for memo in memos:
                await memo.start(state.events)
            try:
                yield
            finally:
                for memo in memos:
                    await memo.stop()
        await engine.dispose()

    app = FastAPI(
        title="Fleet Management System",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    edge.install(app, settings)  # input policy, body limits, error responses in the docs
    state = app_state(app)
    state.settings = settings
    state.engine = engine
    state.sessionmaker = create_sessionmaker(engine)
    state.read_engine = read_only_engine(engine)
    state.principal_cache = new_principal_cache()
    state.device_totals = new_device_totals()
    state.jwt_secret = secret
    state.events = EventBus()
    devices_runtime.install(app)  # cross-worker event bus, DDI routes at the root
    install_error_handlers(app)
    overload.install(app)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Total-Count"],
        )

    app.add_middleware(SecurityHeaders)
    ops_web.install(app, settings)  # outermost: request id, logs, metrics; /metrics

    # Each module router sits directly under the app: every level of nesting is one more
    # linear route match on every request.
    for router in API_ROUTERS:
        app.include_router(router, prefix="/api/v1")

    @app.get("/health", tags=["health"])
    async def health() -> JSONResponse:
        """Answer 200 only when the database answers a query."""
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok"})

    pages.install(app)
    return app
