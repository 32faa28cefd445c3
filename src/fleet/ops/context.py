"""What every log line of a request carries: its id, route and (once known) the user."""

from __future__ import annotations

import re
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# A client-given X-Request-ID is kept when it is a sane token; anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass
class RequestInfo:
    """Mutable on purpose: dependencies fill in the user after the middleware made it."""

    request_id: str
    method: str
    scope: MutableMapping[str, Any] = field(repr=False)
    user_id: int | None = None

    @property
    def route(self) -> str:
        """The matched route's template (``/api/v1/devices/{device_id}``), once routed."""
        return route_of(self.scope)


current: ContextVar[RequestInfo | None] = ContextVar("fleet_request", default=None)


def request_id_from(header: bytes | None) -> str:
    """Take the client's request id when it is well formed, or make one."""
    if header:
        value = header.decode("latin-1").strip()
        if _REQUEST_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


def set_user(user_id: int) -> None:
    """Record who the current request acts for (no-op outside a request)."""
    info = current.get()
    if info is not None:
        info.user_id = user_id


def route_of(scope: Any) -> str:
    """The template of the route a request matched, never the raw path (no ids, no query)."""
    # FastAPI keeps the full template (router prefixes included) in its routing context; a
    # route object alone knows only its path below the prefix it was included with.
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path_format", None)
    if isinstance(path, str) and path:
        return path
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    return "<unmatched>"
