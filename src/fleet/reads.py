"""Answering lists that only read: plain rows in, JSON bytes out, in one serialization pass.

A list endpoint that builds a pydantic model per row pays twice: once to build the models and
once more when FastAPI validates them against ``response_model`` before serializing. The read
paths here select plain columns (SQLAlchemy Core, no ORM objects), build one dict per row and
serialize the page with a ``TypeAdapter`` of a ``TypedDict`` shaped like the endpoint's
``response_model``: the bytes are the ones FastAPI would send for the same models (same keys,
same order, same formats), the endpoint keeps ``response_model`` for its OpenAPI schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import TypeAdapter


def json_page(adapter: TypeAdapter[Any], rows: list[Any], total: int | None = None) -> Response:
    """Answer ``rows`` as a JSON array (with ``X-Total-Count`` when a total is given)."""
    headers = None if total is None else {"X-Total-Count": str(total)}
    return Response(adapter.dump_json(rows), media_type="application/json", headers=headers)
