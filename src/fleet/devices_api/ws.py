"""WebSocket ``/api/v1/ws``: live events for signed-in users, authorized per topic.

The access token travels in the ``Sec-WebSocket-Protocol`` header, never in the URL (a URL
ends up in access logs): offer the subprotocols ``fleet.v1`` and ``bearer.<access token>``
(``new WebSocket(url, ["fleet.v1", "bearer." + token])`` in a browser); the server answers
``fleet.v1`` and never echoes the token. A ``?token=`` in the URL is refused (4401). Optionally
``?topics=device:3,fleet`` subscribes at once; later send ``{"action": "subscribe"|"unsubscribe",
"topics": [...]}``. Every event arrives as ``{"event", "data", "ts"}``. Topics and who may read
them (the API's own rules): ``device:<id>`` any signed-in user (operators read devices to run
tests), ``test:<id>`` the test's operator or a role reaching Fleet Data Manager, ``fleet`` roles
reaching Fleet Data Manager.

Close codes: 4401 missing/invalid token, 4403 forbidden topic, 4404 unknown topic or entity,
4400 malformed message, 4408 client too slow (its queue overflowed and it was dropped).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, cast

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.auth.deps import Principal, get_principal
from fleet.db import utcnow
from fleet.devices_api.fanout import FanoutBus
from fleet.errors import DomainError
from fleet.events import Subscription
from fleet.models import Device, TestReport
from fleet.ops.metrics import WS_CONNECTIONS, WS_EVENTS_SENT
from fleet.state import app_state

log = logging.getLogger(__name__)

router = APIRouter(tags=["live events"])

SUBPROTOCOL = "fleet.v1"
BEARER_PREFIX = "bearer."
CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408
MAX_TOPICS = 100
SEND_TIMEOUT = 5.0


class TopicRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _principal(websocket: WebSocket, token: str | None) -> Principal:
    # get_principal reads only app state and the client address, which a WebSocket has too.
    return await get_principal(cast(Request, websocket), token)


async def authorize_topic(session: AsyncSession, principal: Principal, topic: str) -> None:
    """Let ``principal`` read ``topic`` or raise ``TopicRefused``."""
    kind, _, ident = topic.partition(":")
    if topic == "fleet":
        if not principal.can("FDM"):
            raise TopicRefused(CLOSE_FORBIDDEN, "topic 'fleet' needs Fleet Data Manager access")
        return
    if kind not in ("device", "test") or not ident.isdigit() or len(ident) > 12:
        raise TopicRefused(CLOSE_NOT_FOUND, f"unknown topic {topic[:60]!r}")
    if kind == "device":
        if await session.get(Device, int(ident)) is None:
            raise TopicRefused(CLOSE_NOT_FOUND, f"device {ident} not found")
        return
    report = await session.get(TestReport, int(ident))
    if report is None:
        raise TopicRefused(CLOSE_NOT_FOUND, f"test {ident} not found")
    if report.operator_id != principal.user_id and not principal.can("FDM"):
        raise TopicRefused(CLOSE_FORBIDDEN, f"test {ident} is not yours")


def _offered_token(websocket: WebSocket) -> str | None:
    """The access token offered as the subprotocol ``bearer.<token>``, if any."""
    for offered in websocket.scope.get("subprotocols") or []:
        if offered.startswith(BEARER_PREFIX) and len(offered) > len(BEARER_PREFIX):
            return str(offered[len(BEARER_PREFIX) :])
    return None


def _parse_topics(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = [t for t in raw.split(",") if t.strip()]
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise TopicRefused(CLOSE_BAD_MESSAGE, "topics must be a list of strings")
    if len(raw) > MAX_TOPICS:
        raise TopicRefused(CLOSE_BAD_MESSAGE, f"at most {MAX_TOPICS} topics")
    return [t.strip() for t in raw]


async def _sender(websocket: WebSocket, sub: Subscription) -> None:
    while True:
        message = await sub.queue.get()
        if sub.dropped:
            raise TopicRefused(CLOSE_TOO_SLOW, "client too slow; reconnect")
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await websocket.send_text(json.dumps(message, default=str))
            WS_EVENTS_SENT.inc()
        except TimeoutError:
            raise TopicRefused(CLOSE_TOO_SLOW, "client too slow; reconnect") from None


async def _control(websocket: WebSocket, bus: FanoutBus, sub: Subscription, token: str) -> None:
    while True:
        text = await websocket.receive_text()
        try:
            msg = json.loads(text)
        except ValueError:
            raise TopicRefused(CLOSE_BAD_MESSAGE, "messages are JSON") from None
        if not isinstance(msg, dict) or msg.get("action") not in ("subscribe", "unsubscribe"):
            raise TopicRefused(CLOSE_BAD_MESSAGE, "action must be 'subscribe' or 'unsubscribe'")
        topics = _parse_topics(msg.get("topics"))
        if msg["action"] == "subscribe":
            await _subscribe(websocket, bus, sub, token, topics)
        else:
            for topic in topics:
                bus.remove_topic(sub, topic)
            await _ack(websocket, "unsubscribed", sorted(sub.topics))


async def _ack(websocket: WebSocket, event: str, topics: list[str]) -> None:
    await websocket.send_text(
        json.dumps({"event": event, "data": {"topics": topics}, "ts": utcnow().isoformat()})
    )


async def _subscribe(
    websocket: WebSocket, bus: FanoutBus, sub: Subscription, token: str, topics: list[str]
) -> None:
    # The principal is re-read on every subscription: a role removed meanwhile stops working.
    principal = await _principal(websocket, token)
    factory = app_state(websocket.app).sessionmaker
    async with factory() as session:
        for topic in topics:
            await authorize_topic(session, principal, topic)
    for topic in topics:
        bus.add_topic(sub, topic)
    await bus.ready()
    await _ack(websocket, "subscribed", sorted(sub.topics))


@router.websocket("/ws")
async def live_events(websocket: WebSocket) -> None:
    """Stream live events of the topics the signed-in user subscribes to."""
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    bus = cast(FanoutBus, app_state(websocket.app).events)  # set by devices_api.runtime
    if "token" in websocket.query_params:
        await websocket.close(
            code=CLOSE_UNAUTHORIZED,
            reason="send the token as subprotocol bearer.<token>, not in the URL",
        )
        return
    token = _offered_token(websocket)
    try:
        await _principal(websocket, token)
    except DomainError as exc:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason=str(exc.detail)[:100])
        return
    assert token is not None
    sub = bus.subscribe(set())
    WS_CONNECTIONS.inc()
    try:
        initial = websocket.query_params.get("topics")
        if initial:
            await _subscribe(websocket, bus, sub, token, _parse_topics(initial))
        tasks = [
            asyncio.create_task(_sender(websocket, sub)),
            asyncio.create_task(_control(websocket, bus, sub, token)),
        ]
        try:
            done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for task in done:
            failure = task.exception()
            if failure is not None:
                raise failure
    except TopicRefused as refused:
        with contextlib.suppress(Exception):
            await websocket.close(code=refused.code, reason=refused.reason[:100])
    except DomainError as exc:
        with contextlib.suppress(Exception):
            await websocket.close(code=CLOSE_UNAUTHORIZED, reason=str(exc.detail)[:100])
    except WebSocketDisconnect:
        pass
    finally:
        WS_CONNECTIONS.dec()
        bus.unsubscribe(sub)
