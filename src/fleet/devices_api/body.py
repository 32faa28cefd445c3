"""Reading JSON bodies from devices: size-limited, strictly parsed, errors without echoes.

Devices send bodies FastAPI would parse with ``json.loads``, which accepts ``NaN`` and
``Infinity``; a validation error then echoes that input and cannot itself be rendered as
JSON. Parsing with pydantic's JSON parser and leaving the input out of the errors keeps every
bad body a clean 422.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from fleet.errors import DomainError

M = TypeVar("M", bound=BaseModel)


class PayloadTooLarge(DomainError):
    status_code = 413


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the request body, refusing (413) anything above ``limit`` bytes."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise PayloadTooLarge(f"The request body is at most {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is at most {limit} bytes")
    return bytes(body)


async def parse(request: Request, model: type[M], limit: int) -> M:
    """Parse and validate a JSON body into ``model``; the route's validation status (422, or
    400 on a ``BadRequestRoute``) with located errors otherwise."""
    raw = await read_limited(request, limit)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            exc.errors(include_url=False, include_context=False, include_input=False)
        ) from None


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for an endpoint that parses its body with ``parse``."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": model.model_json_schema(ref_template="#/components/schemas/{model}")
                }
            },
        }
    }
