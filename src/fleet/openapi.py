"""The OpenAPI document declares the one error shape and every status an operation answers.

Every 4xx and 5xx answer of the API is ``{"detail": ...}`` (see ``errors.py``): a sentence, or
for validation errors a list of located problems, or an object with a message and its errors.
The document names that shape once (``Error``) and lists, on every operation, the error
statuses the shared layers can give it: the input policy and body limits (400, 413, 422), the
token check (401, 403), unknown ids (404), state conflicts (409), throttling (429) and an
unreachable database (503, with ``Retry-After``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts

from fleet.errors import invalid_request_status

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "title": "Detail",
            "description": "What went wrong: a sentence, a list of located problems "
            "(loc, msg, type), or an object with a message and its errors.",
        }
    },
}

_DESCRIPTIONS = {
    "400": "Bad request",
    "401": "Not authenticated: no, an invalid or an expired token",
    "403": "Forbidden for the active role",
    "404": "Not found (also an id outside the column's range)",
    "409": "Conflict with the current state",
    "413": "Request body too large",
    "422": "Validation error",
    "429": "Too many attempts; see Retry-After",
    "503": "Database unavailable; see Retry-After",
}
# Operations anyone may call without a token.
_PUBLIC = {"/health", "/api/v1/i18n", "/api/v1/i18n/{language}"}
_THROTTLED = {"/api/v1/auth/login", "/api/v1/auth/login/qr", "/api/v1/auth/refresh"}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    if path == "/health":
        return ["503"]
    codes = ["400", "404", "422", "503"]
    if path not in _PUBLIC:
        codes += ["401", "403"]
    if method != "get":
        codes.append("409")
    if "requestBody" in operation:
        codes.append("413")
    if path in _THROTTLED:
        codes.append("429")
    return sorted(codes)


_INVALID_AS_400 = "Bad request, also a body or a parameter that is not valid (this API answers 400)"


def _with_errors(
    schema: dict[str, Any], invalid_as_400: frozenset[tuple[str, str]] = frozenset()
) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    # FastAPI's own validation-error schemas stay out: every 422 is declared as Error.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    ref = {"$ref": "#/components/schemas/Error"}
    retry_after = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code in _statuses(path, method, operation):
                description = _DESCRIPTIONS[code]
                if code == "400" and (path, method) in invalid_as_400:
                    description = _INVALID_AS_400
                entry: dict[str, Any] = {
                    "description": description,
                    "content": {"application/json": {"schema": ref}},
                }
                if code in {"429", "503"}:
                    entry["headers"] = retry_after
                responses[code] = entry
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` answer the document with the error responses declared."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            invalid_as_400 = frozenset(
                (str(context.path_format), method.lower())
                for context in iter_route_contexts(app.routes)
                if invalid_request_status(context.original_route) == 400
                for method in context.methods or ()
            )
            app.openapi_schema = _with_errors(schema, invalid_as_400)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
