"""Typed domain errors raised by services and turned into HTTP answers in one place."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc


class PoisonValue(ValueError):
    """A value the input policy (``fleet.validation``) refuses; ``path`` locates it inside its
    document. It lives here, below the policy, so that the handlers need not import it."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 400

    def __init__(self, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(DomainError):
    status_code = 400


class Unauthorized(DomainError):
    status_code = 401

    def __init__(self, detail: Any = "Not authenticated") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(DomainError):
    status_code = 403


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class ValidationFailed(DomainError):
    status_code = 422


class TooManyRequests(DomainError):
    status_code = 429

    def __init__(self, detail: Any, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


async def _domain_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


class BadRequestRoute(APIRoute):
    """A route of an API whose clients expect a request that is not valid (its body or a
    parameter) to be answered 400, not 422: hawkBit's device API (DDI). The router declares it
    (``APIRouter(route_class=BadRequestRoute)``); the validation-error handler and the input
    policy at the edge read it from the route."""

    invalid_request_status = 400


def invalid_request_status(route: object) -> int:
    """The status a request that is not valid earns on ``route``: 422 unless it says otherwise."""
    status = getattr(route, "invalid_request_status", 422)
    return status if isinstance(status, int) else 422


async def _request_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    # Like FastAPI's own handler, but a NaN/Infinity echoed back as the bad input is sent as
    # text: strict JSON cannot carry it, and the 422 must not turn into a 500. The status is
    # the route's (``BadRequestRoute``).
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"detail": _json_safe(jsonable_encoder(exc.errors()))},
        status_code=invalid_request_status(request.scope.get("route")),
    )


DB_RETRY_AFTER_SECONDS = 5


def _poison(exc: BaseException) -> Any:
    """The policy's refusal behind ``exc`` (raised as such, or wrapped by SQLAlchemy)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, PoisonValue):
            return exc
        exc = getattr(exc, "orig", None) or exc.__cause__  # type: ignore[assignment]
        seen += 1
    return None


def _is_data_error(exc: BaseException | None) -> bool:
    """A value the database cannot hold (SQLSTATE class 22: out of range, bad text...)."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, sa_exc.DataError) or type(exc).__name__ == "DataError":
            return True
        if str(getattr(exc, "sqlstate", None) or "").startswith("22"):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
        seen += 1
    return False


def unavailable(
    detail: str = "The database is unavailable; try again shortly",
    retry_after: int = DB_RETRY_AFTER_SECONDS,
) -> JSONResponse:
    """The one 503 answer: the reason and when to try again."""
    return JSONResponse(
        {"detail": detail}, status_code=503, headers={"Retry-After": str(retry_after)}
    )


def _refused(poison: Any) -> JSONResponse:
    loc = ["body", *poison.path] if poison.path else ["body"]
    return JSONResponse(
        {"detail": [{"loc": loc, "msg": poison.message, "type": "value_error"}]},
        status_code=422,
    )


async def database_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """A statement refused by the input policy is a 422, a value the database cannot hold
    (out of range, invalid text) a 422, a database that cannot be reached a 503."""
    poison = _poison(exc)
    if poison is not None:
        return _refused(poison)
    if _is_data_error(exc):
        return JSONResponse(
            {"detail": [{"loc": ["body"], "msg": "a value is outside what the database can "
                         "hold", "type": "value_error"}]},
            status_code=422,
        )
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return unavailable()
    if isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError,
    ):
        return unavailable()
    raise exc


async def _connection_error_handler(_request: Request, _exc: Exception) -> JSONResponse:
    return unavailable()


async def _poison_handler(_request: Request, exc: Exception) -> JSONResponse:
    return _refused(_poison(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that map errors onto ``{"detail": ...}`` answers."""
    app.add_exception_handler(DomainError, _domain_error_handler)
    app.add_exception_handler(RequestValidationError, _request_validation_handler)
    app.add_exception_handler(PoisonValue, _poison_handler)
    app.add_exception_handler(sa_exc.StatementError, database_error_handler)
    app.add_exception_handler(sa_exc.DisconnectionError, database_error_handler)
    app.add_exception_handler(sa_exc.TimeoutError, database_error_handler)
    # asyncpg reports a server it cannot reach as the socket's own error
    app.add_exception_handler(ConnectionError, _connection_error_handler)
