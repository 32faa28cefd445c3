"""A request that is not valid is answered by its route's declared status: 422, or 400 on a
``BadRequestRoute`` (hawkBit's device API), whatever its path, at the edge (a body the input
policy refuses) and in the validation-error handler (body, query), and the OpenAPI document
says so."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, FastAPI, Query
from pydantic import BaseModel

from fleet import edge
from fleet.errors import BadRequestRoute, install_error_handlers
from fleet.settings import Settings


class Body(BaseModel):
    n: int


def _app() -> FastAPI:
    app = FastAPI()
    edge.install(app, Settings(env="test"))
    install_error_handlers(app)
    device = APIRouter(prefix="/dev", route_class=BadRequestRoute)
    plain = APIRouter(prefix="/plain")
    for router in (device, plain):

        @router.post("/items")
        async def take(body: Body, k: Annotated[int, Query()] = 0) -> dict[str, int]:
            return {"n": body.n, "k": k}

        app.include_router(router)
    return app


async def test_invalid_requests_answer_the_routes_status() -> None:
    app = _app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for prefix, status in (("/dev", 400), ("/plain", 422)):
            url = f"{prefix}/items"
            assert (await client.post(url, json={"n": 1})).json() == {"n": 1, "k": 0}
            # refused at the edge, before any route: a NaN in the body
            r = await client.post(
                url, content='{"n": NaN}', headers={"Content-Type": "application/json"}
            )
            assert r.status_code == status, (prefix, r.text)
            assert r.json()["detail"][0]["loc"][0] == "body"
            # the route's own validation: a body of the wrong type, a bad query parameter
            r = await client.post(url, json={"n": "x"})
            assert r.status_code == status, (prefix, r.text)
            assert r.json()["detail"][0]["loc"] == ["body", "n"]
            r = await client.post(url, params={"k": "x"}, json={"n": 1})
            assert r.status_code == status, (prefix, r.text)
            r = await client.post(url, params={"k": 2**31}, json={"n": 1})
            assert r.status_code == status, (prefix, r.text)
    spec = app.openapi()
    described = {p: spec["paths"][p]["post"]["responses"]["400"]["description"]
                 for p in ("/dev/items", "/plain/items")}
    assert "this API answers 400" in described["/dev/items"]
    assert "this API answers 400" not in described["/plain/items"]
