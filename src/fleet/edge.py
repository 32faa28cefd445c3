"""The input policy at the edge: what every request must respect before any route sees it.

``InputPolicy`` is a pure ASGI middleware, so it works on the bytes as they stream in:

- a body larger than the limit of its kind (JSON, imports and restores, artifacts) is refused
  with 413 as soon as the declared length or the bytes received pass the limit; nothing more is
  read or kept, and no token is needed to be refused;
- a JSON body must be JSON the policy accepts (``validation.loads_strict``): no NaN/Infinity,
  numbers within float/int64 range, no NUL in any string or key, nesting within the limit;
  otherwise 422 (or the status the route's class declares, see ``errors.BadRequestRoute``)
  before parsing by the route;
- the path and the query string must not carry the NUL character (404 / 422).

``check_parameters`` is a dependency of every route: an integer path parameter outside the
32-bit range of the columns is a 404 (no such row can exist), an integer query parameter
outside it a 422.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import HTTPConnection
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleet.errors import NotFound, invalid_request_status
from fleet.settings import Settings
from fleet.validation import (
    INT32_MAX,
    INT32_MIN,
    PoisonValue,
    check_datetime,
    configure,
    loads_strict,
)

_ARTIFACT = re.compile(r"^/api/v1/fleet-software/versions/[^/]+/artifact$")
# JSON bodies that carry whole documents get the import limit, as file uploads do.
_IMPORTS = {
    "/api/v1/fleet-data/import",
    "/api/v1/fleet-config/restore",
    "/api/v1/scenarios/import",
}
_IMPORT_PREFIXES = ("/api/v1/fleet-config/translations/import/",)
_PHOTO = re.compile(r"^/api/v1/tests/[^/]+/steps/[^/]+/photo$")


def _json_answer(status: int, detail: Any, headers: dict[str, str] | None = None) -> list[Message]:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return [
        {"type": "http.response.start", "status": status, "headers": raw},
        {"type": "http.response.body", "body": body},
    ]


def _problem(loc: list[Any], message: str) -> list[dict[str, Any]]:
    return [{"loc": loc, "msg": message, "type": "value_error"}]


class InputPolicy:
    """Body limits while the body streams, and the JSON/NUL policy, for every request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.json_limit = settings.max_json_body_kb * 1024
        self.import_limit = settings.max_import_mb * 1024 * 1024
        # the artifact itself plus the multipart framing around it
        self.artifact_limit = (settings.max_upload_mb + 1) * 1024 * 1024
        self.max_depth = settings.json_max_depth

    def _limit(self, path: str, content_type: str) -> int:
        if _ARTIFACT.match(path):
            return self.artifact_limit
        if path in _IMPORTS or path.startswith(_IMPORT_PREFIXES) or _PHOTO.match(path):
            return self.import_limit
        if content_type.startswith("multipart/form-data"):
            return self.import_limit
        return self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if "\x00" in path:
            await _send_all(send, _json_answer(404, "Not Found"))
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            await _send_all(
                send, _json_answer(422, _problem(["query"], "must not contain the NUL character"))
            )
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        limit = self._limit(path, content_type)
        declared = headers.get(b"content-length")
        if declared is not None and not declared.isdigit():
            await _send_all(send, _json_answer(400, "Invalid Content-Length"))
            return
        if declared is not None and int(declared) > limit:
            await _refuse_too_large(send, limit)
            return
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all: nothing to count
            return
        if _is_json(content_type) and scope["method"] in {"POST", "PUT", "PATCH", "DELETE"}:
            await self._json(scope, receive, send, limit)
            return
        await self._streamed(scope, receive, send, limit)

    async def _json(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Read the (small) JSON body whole, within the limit, check it, then hand it on."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse_too_large(send, limit)
                return
            if not message.get("more_body", False):
                break
        if body.strip():
            try:
                loads_strict(bytes(body), self.max_depth)
            except PoisonValue as exc:
                answer = _json_answer(
                    _invalid_status(scope), _problem(["body", *exc.path], exc.message)
                )
                await _send_all(send, answer)
                return
            except (ValueError, UnicodeDecodeError):
                pass  # not JSON at all: the route answers its own 422
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Pass the body through as it streams; past the limit the route sees the client gone
        and the answer is 413 instead of whatever the route would have said."""
        received = 0
        too_large = False
        started = False

        async def counted() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not too_large or started:
                raise
        if too_large and not started:
            await _refuse_too_large(send, limit)


def _invalid_status(scope: Scope) -> int:
    """The status the route this request goes to gives a request that is not valid (422, or
    the one its route class declares, as ``errors.BadRequestRoute``); looked up only for a
    body the policy refuses, before the router has matched it."""
    app = scope.get("app")
    if not isinstance(app, FastAPI):
        return 422
    for context in iter_route_contexts(app.routes):
        match, _child = context.matches(scope)
        if match == Match.FULL:
            return invalid_request_status(context.original_route)
    return 422


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip()
    return media == "application/json" or media.endswith("+json")


async def _send_all(send: Send, messages: list[Message]) -> None:
    for message in messages:
        await send(message)


async def _refuse_too_large(send: Send, limit: int) -> None:
    await _send_all(send, _json_answer(413, f"The request body is larger than {limit} bytes"))


# ---------------------------------------------------------------- integer parameters

_PARAMS: dict[int, tuple[list[str], list[str], list[str]]] = {}


def _is(field: Any, kind: type) -> bool:
    annotation = getattr(field.field_info, "annotation", None)
    if annotation is kind:
        return True
    args = getattr(annotation, "__args__", ())
    others = {str, float, int, datetime} - {kind}
    return kind in args and not any(a in others for a in args)


def _typed_params(route: APIRoute) -> tuple[list[str], list[str], list[str]]:
    """The route's integer path parameters, integer and date-time query parameters."""
    found = _PARAMS.get(id(route))
    if found is None:
        path: set[str] = set()
        query: set[str] = set()
        times: set[str] = set()
        stack = [route.dependant]
        while stack:
            dependant = stack.pop()
            path |= {f.alias for f in dependant.path_params if _is(f, int)}
            query |= {f.alias for f in dependant.query_params if _is(f, int)}
            times |= {f.alias for f in dependant.query_params if _is(f, datetime)}
            stack.extend(dependant.dependencies)
        found = (sorted(path), sorted(query), sorted(times))
        _PARAMS[id(route)] = found
    return found


def _out_of_range(raw: str) -> bool:
    text = raw.strip()
    digits = text.lstrip("+-")
    if not digits.isdigit():
        return False  # not an integer: the route's own validation answers
    return len(digits) > 12 or not INT32_MIN <= int(text) <= INT32_MAX


def _time_out_of_range(raw: str) -> bool:
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return False  # not ISO 8601 (or a number): the route's own validation answers
    try:
        check_datetime(value)
    except PoisonValue:
        return True
    return False


async def check_parameters(request: HTTPConnection) -> None:
    """404 for an integer path parameter outside the columns' range, 422 for an integer query
    parameter outside it or a date-time one outside the years 1900-9999."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    path_names, query_names, time_names = _typed_params(route)
    for name in path_names:
        raw = request.path_params.get(name)
        if isinstance(raw, str) and _out_of_range(raw):
            raise NotFound("Not found")
    for name in query_names:
        for raw in request.query_params.getlist(name):
            if _out_of_range(raw):
                raise RequestValidationError(
                    _problem(["query", name], f"must be between {INT32_MIN} and {INT32_MAX}")
                )
    for name in time_names:
        for raw in request.query_params.getlist(name):
            if _time_out_of_range(raw):
                raise RequestValidationError(
                    _problem(["query", name], "date-time outside the years 1900-9999")
                )


def install(app: FastAPI, settings: Settings) -> None:
    """Put the input policy in front of every route (call before any route is added)."""
    from fleet import openapi

    configure(settings.json_max_depth, settings.json_field_max_kb * 1024)
    app.add_middleware(InputPolicy, settings=settings)
    app.router.dependencies.append(Depends(check_parameters))
    openapi.install(app)
